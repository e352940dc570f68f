package main

import (
	"context"
	"fmt"
	"log/slog"
)

// redisLogger sends go-redis's own messages (dial failures, pool events)
// to hookguard's JSON log instead of plain text on stderr. go-redis keeps
// its logger in a package variable; main sets it once before serving.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.LogAttrs(ctx, slog.LevelWarn, "redis", slog.String("detail", fmt.Sprintf(format, v...)))
}
