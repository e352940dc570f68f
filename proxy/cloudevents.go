package proxy

import (
	"encoding/json"
	"time"

	"github.com/hookguard/hookguard/verify"
)

const cloudEventsContentType = "application/cloudevents+json"

// cloudEventEnvelope is a CloudEvents 1.0 event in structured JSON mode.
type cloudEventEnvelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time,omitempty"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data,omitempty"`
	DataBase64      []byte          `json:"data_base64,omitempty"`
}

// cloudEvent wraps one verified event: id is the event id (or derived key),
// source is "/hookguard" + the route path, type is provider + "." + event
// type, data is the original event (data_base64 when it is not JSON).
func cloudEvent(r *Route, ev *verify.Event, now time.Time) ([]byte, error) {
	ce := cloudEventEnvelope{
		SpecVersion:     "1.0",
		ID:              eventID(ev),
		Source:          "/hookguard" + r.Path,
		Type:            ev.Provider,
		DataContentType: "application/json",
	}
	if ev.Type != "" {
		ce.Type += "." + ev.Type
	}
	t := ev.Time
	if t.IsZero() {
		t = now
	}
	ce.Time = t.UTC().Format(time.RFC3339Nano)
	if json.Valid(ev.Body) {
		ce.Data = json.RawMessage(ev.Body)
	} else {
		ce.DataContentType = "application/octet-stream"
		ce.DataBase64 = ev.Body
	}
	return json.Marshal(ce)
}
