package shuffle

import "github.com/prometheus/client_golang/prometheus"

// RegisterMetrics adds the service's counters to reg as ember_shuffle_*
// metrics (blocks and bytes served, streams opened, open streams,
// registered executors), read at scrape time.
func (s *Service) RegisterMetrics(reg prometheus.Registerer) error {
	m := &s.metrics
	cs := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ember_shuffle_blocks_served_total",
			Help: "Shuffle blocks served by the external shuffle service."},
			func() float64 { return float64(m.BlocksServed.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ember_shuffle_bytes_served_total",
			Help: "Bytes of shuffle blocks served."},
			func() float64 { return float64(m.BytesServed.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ember_shuffle_streams_opened_total",
			Help: "Block streams opened (OpenBlocks / FetchShuffleBlocks)."},
			func() float64 { return float64(m.StreamsOpened.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ember_shuffle_open_streams",
			Help: "Block streams not fully read yet."},
			func() float64 { return float64(m.OpenStreams()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ember_shuffle_registered_executors",
			Help: "Executors registered with the shuffle service."},
			func() float64 { return float64(m.RegisteredExecutors()) }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
