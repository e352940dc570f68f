package main

import (
	"time"

	"github.com/hookguard/hookguard/admin"
	"github.com/hookguard/hookguard/proxy"
)

// observers gives every webhook's Report to each of its observers, and a
// change of the forwards in flight to those of them that count it.
type observers struct {
	all      []proxy.Observer
	inFlight []proxy.InFlightObserver
}

func newObservers(obs ...proxy.Observer) *observers {
	o := &observers{all: obs}
	for _, x := range obs {
		if f, ok := x.(proxy.InFlightObserver); ok {
			o.inFlight = append(o.inFlight, f)
		}
	}
	return o
}

func (o *observers) Observe(r proxy.Report) {
	for _, x := range o.all {
		x.Observe(r)
	}
}

func (o *observers) InFlight(delta int) {
	for _, f := range o.inFlight {
		f.InFlight(delta)
	}
}

// withConsole returns the webhook handler's observer: the metrics, and the
// recorder that the admin listener's console shows. It lives as long as
// the process, so a reload keeps the console's counters.
func withConsole(m *proxy.Metrics, now func() time.Time) proxy.Observer {
	return newObservers(m, admin.NewRecorder(admin.RecorderConfig{Now: now}))
}

// consoleEvents finds the console's recorder in the handler's observer
// (nil: none, and no console).
func consoleEvents(obs proxy.Observer) *admin.Recorder {
	switch o := obs.(type) {
	case *admin.Recorder:
		return o
	case *observers:
		for _, x := range o.all {
			if r := consoleEvents(x); r != nil {
				return r
			}
		}
	}
	return nil
}

var (
	_ proxy.Observer         = (*observers)(nil)
	_ proxy.InFlightObserver = (*observers)(nil)
)
