package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookguard/hookguard/admin"
	"github.com/spf13/pflag"
)

const queueUsage = `Usage: hookguard queue status|dead|replay|drop [--admin URL] [--token T] [--route R] [ID...|--all]

  status              waiting, retrying and dead events per route
  dead [ID...]        list dead letters (of --route), or show some with their attempts
  replay ID...|--all  put dead letters back in the queue (--all: every one of --route)
  drop ID...          delete dead letters

`

// queueCmd calls the admin listener's queue API.
func queueCmd(ctx context.Context, args []string, e env, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("hookguard queue", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, queueUsage); fs.PrintDefaults() }
	adminURL := fs.String("admin", "http://"+defaultAdminListen, "the admin listener's base URL")
	token := fs.String("token", "", "admin token: env:NAME, file:/path or the token (default: $HOOKGUARD_ADMIN_TOKEN)")
	route := fs.String("route", "", "the route (its name; default: its path)")
	all := fs.Bool("all", false, "replay: every dead letter of --route")
	asJSON := fs.Bool("json", false, "print the API's JSON as it is")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return errHelp
		}
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("queue: a command is required: status, dead, replay or drop")
	}
	c := &adminClient{base: strings.TrimRight(*adminURL, "/"), http: &http.Client{Timeout: 15 * time.Second}}
	tok := *token
	if tok == "" {
		tok = e.getenv("HOOKGUARD_ADMIN_TOKEN")
	}
	if tok != "" {
		v, err := flagSecret(tok, e.getenv)
		if err == nil {
			v, err = resolveSecret(v, e)
		}
		if err != nil {
			return fmt.Errorf("queue: --token: %w", err)
		}
		c.token = v
	}
	cmd, ids := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "status":
		var st admin.Status
		raw, err := c.do(ctx, http.MethodGet, "/queue", &st)
		if err != nil || *asJSON {
			return printRaw(stdout, raw, err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ROUTE\tWAITING\tRETRYING\tDEAD\tOLDEST WAITING")
		for _, r := range st.Routes {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", r.Route, r.Waiting, r.Retrying, r.Dead, time.Duration(r.OldestWaitingSeconds*float64(time.Second)).Round(time.Second))
		}
		return tw.Flush()
	case "dead":
		if len(ids) > 0 {
			for _, id := range ids {
				var d admin.DeadLetterDetail
				raw, err := c.do(ctx, http.MethodGet, "/queue/dead/"+url.PathEscape(id), &d)
				if err != nil || *asJSON {
					if err := printRaw(stdout, raw, err); err != nil {
						return err
					}
					continue
				}
				printDetail(stdout, d)
			}
			return nil
		}
		path := "/queue/dead"
		if *route != "" {
			path += "?route=" + url.QueryEscape(*route)
		}
		var list struct {
			Dead []admin.DeadLetter `json:"dead"`
		}
		raw, err := c.do(ctx, http.MethodGet, path, &list)
		if err != nil || *asJSON {
			return printRaw(stdout, raw, err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROUTE\tEVENT ID\tTYPE\tATTEMPTS\tLAST STATUS\tLAST ERROR\tLAST ATTEMPT")
		for _, d := range list.Dead {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", d.ID, d.Route, d.EventID, d.Type, d.Attempts, d.LastStatus,
				d.LastError, d.LastAttempt.Format(time.RFC3339))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d dead letters\n", len(list.Dead))
		return nil
	case "replay":
		if *all {
			if *route == "" || len(ids) > 0 {
				return errors.New("queue replay --all needs --route and no ids")
			}
			var n map[string]int
			if _, err := c.do(ctx, http.MethodPost, "/queue/dead/all/replay?route="+url.QueryEscape(*route), &n); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "replayed %d dead letters of %s\n", n["replayed"], *route)
			return nil
		}
		return eachID(ids, "replay", func(id string) error {
			_, err := c.do(ctx, http.MethodPost, "/queue/dead/"+url.PathEscape(id)+"/replay", nil)
			if err == nil {
				fmt.Fprintf(stdout, "replayed %s\n", id)
			}
			return err
		})
	case "drop":
		if *all {
			return errors.New("queue drop takes ids, not --all")
		}
		return eachID(ids, "drop", func(id string) error {
			_, err := c.do(ctx, http.MethodDelete, "/queue/dead/"+url.PathEscape(id), nil)
			if err == nil {
				fmt.Fprintf(stdout, "dropped %s\n", id)
			}
			return err
		})
	}
	fs.Usage()
	return fmt.Errorf("queue: unknown command %q", cmd)
}

func eachID(ids []string, verb string, f func(string) error) error {
	if len(ids) == 0 {
		return fmt.Errorf("queue %s: give the ids of dead letters (hookguard queue dead lists them)", verb)
	}
	var errs []error
	for _, id := range ids {
		if err := f(id); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

func printDetail(w io.Writer, d admin.DeadLetterDetail) {
	fmt.Fprintf(w, "dead letter %s: route %s, event %s (%s, %s)\n", d.ID, d.Route, d.EventID, d.Type, d.Provider)
	fmt.Fprintf(w, "  enqueued %s, dead %s, %d attempts\n", d.EnqueuedAt.Format(time.RFC3339), d.DeadAt.Format(time.RFC3339), d.Attempts)
	for _, a := range d.History {
		what := fmt.Sprint(a.Status)
		if a.Status == 0 {
			what = a.Error
		}
		fmt.Fprintf(w, "  %s  %s  %.1f ms\n", a.At.Format(time.RFC3339), what, a.DurationMS)
	}
	if a := d.Answer; a != nil {
		fmt.Fprintf(w, "  the app answered %d (%s): %s\n", a.Status, a.ContentType, a.Body)
	}
}

func printRaw(w io.Writer, raw []byte, err error) error {
	if err != nil {
		return err
	}
	_, err = w.Write(raw)
	return err
}

// adminClient calls the admin API.
type adminClient struct {
	base, token string
	http        *http.Client
}

// do sends the request and decodes a 2xx answer into out (when not nil);
// any other answer is an error carrying the API's message.
func (c *adminClient) do(ctx context.Context, method, path string, out any) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("queue: --admin: %w", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("queue: is hookguard running with its admin listener at %s? %w", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return raw, fmt.Errorf("queue: %s: %s", resp.Status, e.Error)
		}
		return raw, fmt.Errorf("queue: %s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return raw, fmt.Errorf("queue: reading the answer: %w", err)
		}
	}
	return raw, nil
}
