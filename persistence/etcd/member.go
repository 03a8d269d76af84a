package etcd

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TLSFiles are PEM files for mutual TLS: every peer and client must
// present a certificate from CA.
type TLSFiles struct {
	CA, Cert, Key string
}

func (t *TLSFiles) info() transport.TLSInfo {
	if t == nil {
		return transport.TLSInfo{}
	}
	return transport.TLSInfo{CertFile: t.Cert, KeyFile: t.Key, TrustedCAFile: t.CA, ClientCertAuth: true}
}

// ClientTLS is the client side of t (nil when t is nil).
func (t *TLSFiles) ClientTLS() (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	return transport.TLSInfo{CertFile: t.Cert, KeyFile: t.Key, TrustedCAFile: t.CA}.ClientConfig()
}

func (t *TLSFiles) scheme() string {
	if t == nil {
		return "http"
	}
	return "https"
}

// MemberConfig describes an embedded etcd member.
type MemberConfig struct {
	Name         string
	Dir          string
	PeerListen   string // host:port
	ClientListen string // host:port
	// InitialCluster is name=peerURL,...; empty means this member alone.
	InitialCluster string
	// State is "new" or "existing".
	State string
	// Token names the cluster so members of different clusters never mix.
	Token string
	TLS   *TLSFiles
	// StartTimeout bounds the wait for a quorum (a new cluster waits for
	// its first members).
	StartTimeout time.Duration
	// LogLevel is the lowest level of the member's own log that reaches
	// stderr (error, warn, info, debug); empty: error.
	LogLevel string
}

// Member is a running embedded etcd member.
type Member struct {
	e       *embed.Etcd
	cfg     MemberConfig
	closing *atomic.Bool
}

func hostURL(scheme, hostport string) (url.URL, error) {
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		return url.URL{}, fmt.Errorf("etcd: %q: %w", hostport, err)
	}
	return url.URL{Scheme: scheme, Host: hostport}, nil
}

// StartMember starts the member and waits until it serves (it has joined
// a quorum).
func StartMember(ctx context.Context, mc MemberConfig) (*Member, error) {
	scheme := mc.TLS.scheme()
	peer, err := hostURL(scheme, mc.PeerListen)
	if err != nil {
		return nil, err
	}
	client, err := hostURL(scheme, mc.ClientListen)
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = mc.Name
	cfg.Dir = mc.Dir
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.InitialCluster = mc.InitialCluster
	if cfg.InitialCluster == "" {
		cfg.InitialCluster = mc.Name + "=" + peer.String()
	}
	cfg.ClusterState = embed.ClusterStateFlagNew
	if mc.State == "existing" {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	if mc.Token != "" {
		cfg.InitialClusterToken = mc.Token
	}
	cfg.PeerTLSInfo = mc.TLS.info()
	cfg.ClientTLSInfo = mc.TLS.info()
	// Old revisions are only history we never read.
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "5m"
	closing := &atomic.Bool{}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(quietLogger(closing, mc.LogLevel))
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd: start member %s: %w", mc.Name, err)
	}
	timeout := mc.StartTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd: member %s: %w", mc.Name, err)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("etcd: member %s: %w", mc.Name, ctx.Err())
	case <-time.After(timeout):
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("etcd: member %s not ready within %s (are the other members of storage.etcd.initial_cluster up?)", mc.Name, timeout)
	}
	return &Member{e: e, cfg: mc, closing: closing}, nil
}

// Endpoint is this member's client endpoint for clientv3.
func (m *Member) Endpoint() string {
	return m.cfg.TLS.scheme() + "://" + m.cfg.ClientListen
}

// Close stops the member.
func (m *Member) Close() {
	m.closing.Store(true)
	m.e.Close()
}

// Dial connects a client to endpoints (with mutual TLS when tlsf is set).
func Dial(ctx context.Context, endpoints []string, tlsf *TLSFiles, timeout time.Duration) (*clientv3.Client, error) {
	tc, err := tlsf.ClientTLS()
	if err != nil {
		return nil, fmt.Errorf("etcd: client TLS: %w", err)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: timeout,
		TLS:         tc,
		Context:     context.WithoutCancel(ctx),
		// Keep failures quick to notice: the lease keep-alive and
		// requests fail over to another endpoint.
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               nopLogger(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: connect %s: %w", strings.Join(endpoints, ","), err)
	}
	// clientv3.New does not wait for a connection; a status call does.
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := cli.Get(sctx, "authrim/ping", clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcd: reach %s: %w", strings.Join(endpoints, ","), err)
	}
	return cli, nil
}

func nopLogger() *zap.Logger { return zap.NewNop() }

// quietLogger logs the member's errors to stderr as JSON lines, except
// after Close, when etcd reports its own listeners closing as errors.
func quietLogger(closing *atomic.Bool, levelName string) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	// A lower level shows more of the member's own log, for investigating
	// a cluster; errors always show.
	level := zapcore.ErrorLevel
	if l, err := zapcore.ParseLevel(levelName); err == nil && l < level {
		level = l
	}
	core := zapcore.NewCore(enc, zapcore.Lock(os.Stderr), level)
	return zap.New(&closingFilter{Core: core, closing: closing})
}

type closingFilter struct {
	zapcore.Core
	closing *atomic.Bool
}

func (f *closingFilter) Enabled(l zapcore.Level) bool { return !f.closing.Load() && f.Core.Enabled(l) }

func (f *closingFilter) With(fields []zapcore.Field) zapcore.Core {
	return &closingFilter{Core: f.Core.With(fields), closing: f.closing}
}

func (f *closingFilter) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !f.Enabled(e.Level) {
		return ce
	}
	return ce.AddCore(e, f)
}
