package tracker

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// prometheusHandler serves /metrics: the tracker's counters and gauges,
// read from one Stats snapshot per scrape, plus the Go runtime and process
// collectors. Each Server has its own registry, so several in one process
// (tests, --serve-tracker) do not collide.
func (s *Server) prometheusHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&statsCollector{s: s},
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

var (
	descTorrents = prometheus.NewDesc("shoal_tracker_torrents", "Torrents with at least one peer.", nil, nil)
	descPeers    = prometheus.NewDesc("shoal_tracker_peers", "Peers tracked, by kind.", []string{"kind"}, nil)
	descAnn      = prometheus.NewDesc("shoal_tracker_announces_total", "Announces received, by protocol.", []string{"proto"}, nil)
	descScrapes  = prometheus.NewDesc("shoal_tracker_scrapes_total", "Scrapes received, by protocol.", []string{"proto"}, nil)
	descConnects = prometheus.NewDesc("shoal_tracker_udp_connects_total", "BEP 15 connect requests answered.", nil, nil)
	descErrors   = prometheus.NewDesc("shoal_tracker_errors_total", "Requests that failed, by kind.", []string{"kind"}, nil)
	descRefused  = prometheus.NewDesc("shoal_tracker_http_connections_refused_total", "HTTP connections closed for exceeding the connection cap.", nil, nil)
	descDropped  = prometheus.NewDesc("shoal_tracker_udp_dropped_total", "UDP packets dropped without reply.", nil, nil)
)

// statsCollector turns a Stats snapshot into metrics at scrape time.
type statsCollector struct{ s *Server }

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTorrents, descPeers, descAnn, descScrapes, descConnects, descErrors, descRefused, descDropped} {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.s.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descTorrents, err)
		return
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	ch <- prometheus.MustNewConstMetric(descTorrents, gauge, float64(st.Torrents))
	ch <- prometheus.MustNewConstMetric(descPeers, gauge, float64(st.Seeders), "seeder")
	ch <- prometheus.MustNewConstMetric(descPeers, gauge, float64(st.Leechers), "leecher")
	ch <- prometheus.MustNewConstMetric(descAnn, counter, float64(st.AnnouncesHTTP), "http")
	ch <- prometheus.MustNewConstMetric(descAnn, counter, float64(st.AnnouncesUDP), "udp")
	ch <- prometheus.MustNewConstMetric(descScrapes, counter, float64(st.ScrapesHTTP), "http")
	ch <- prometheus.MustNewConstMetric(descScrapes, counter, float64(st.ScrapesUDP), "udp")
	ch <- prometheus.MustNewConstMetric(descConnects, counter, float64(st.UDPConnects))
	ch <- prometheus.MustNewConstMetric(descErrors, counter, float64(st.ClientErrors), "client")
	ch <- prometheus.MustNewConstMetric(descErrors, counter, float64(st.InternalErrors), "internal")
	ch <- prometheus.MustNewConstMetric(descRefused, counter, float64(c.s.stats.httpConnsRefused.Load()))
	ch <- prometheus.MustNewConstMetric(descDropped, counter, float64(c.s.stats.udpDropped.Load()))
}
