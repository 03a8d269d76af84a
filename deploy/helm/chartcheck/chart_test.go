// Package chartcheck tests the Helm chart in deploy/helm/authrim offline:
// it renders the chart with Helm's own engine, decodes every manifest
// strictly into the Kubernetes API types (an unknown or misspelt field is
// an error, as the API server's strict field validation makes it), checks
// that the pieces fit together (names, ports, mounts, probes, security),
// and runs the rendered node configuration, with each pod's environment,
// through `authrim config check`, so the chart cannot ship a configuration
// a node refuses.
//
// It is a module of its own so that the main module does not depend on
// Helm and the Kubernetes API packages.
package chartcheck

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir  = "../authrim"
	release   = "authrim"
	namespace = "idp"
	uid       = 65532
)

// serviceMonitor is the part of monitoring.coreos.com/v1 ServiceMonitor
// the chart uses. Decoding is strict, so a field the chart writes that is
// not here (or is misspelt) fails the test; the fields are the operator's
// (prometheus-operator's ServiceMonitorSpec and Endpoint).
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace,omitempty"`
		Labels      map[string]string `json:"labels,omitempty"`
		Annotations map[string]string `json:"annotations,omitempty"`
	} `json:"metadata"`
	Spec struct {
		JobLabel          string `json:"jobLabel,omitempty"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels,omitempty"`
		} `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port,omitempty"`
			Path          string `json:"path,omitempty"`
			Scheme        string `json:"scheme,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// manifests is a rendered chart, decoded.
type manifests struct {
	statefulSets    []appsv1.StatefulSet
	services        []corev1.Service
	configMaps      []corev1.ConfigMap
	secrets         []corev1.Secret
	pdbs            []policyv1.PodDisruptionBudget
	serviceMonitors []serviceMonitor
}

// render renders the chart with the values files (in order, later wins)
// as `helm template` would for release authrim in namespace idp.
func render(t *testing.T, valuesFiles ...string) (map[string]string, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{}
	for _, f := range valuesFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yaml.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		vals = merge(vals, v)
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = common.KubeVersion{Version: "v1.31.0", Major: "1", Minor: "31"}
	rv, err := util.ToRenderValues(chrt, vals, common.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}, caps)
	if err != nil {
		return nil, err
	}
	return engine.Render(chrt, rv)
}

// merge merges b into a the way successive -f values files do.
func merge(a, b map[string]any) map[string]any {
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := a[k].(map[string]any); ok {
				a[k] = merge(am, bm)
				continue
			}
		}
		a[k] = v
	}
	return a
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// decode strictly decodes every manifest of out into its API type.
func decode(t *testing.T, out map[string]string) manifests {
	t.Helper()
	var m manifests
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range out {
			if !yield(n) {
				return
			}
		}
	})
	for _, file := range names {
		if strings.HasSuffix(file, "NOTES.txt") || strings.HasPrefix(filepath.Base(file), "_") {
			continue
		}
		for i, doc := range docSep.Split(out[file], -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s #%d: not YAML: %v\n%s", file, i, err, doc)
			}
			strict := func(into any) {
				t.Helper()
				if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
					t.Fatalf("%s #%d (%s %s): %v\n%s", file, i, head.APIVersion, head.Kind, err, doc)
				}
			}
			switch head.APIVersion + " " + head.Kind {
			case "apps/v1 StatefulSet":
				var o appsv1.StatefulSet
				strict(&o)
				m.statefulSets = append(m.statefulSets, o)
			case "v1 Service":
				var o corev1.Service
				strict(&o)
				m.services = append(m.services, o)
			case "v1 ConfigMap":
				var o corev1.ConfigMap
				strict(&o)
				m.configMaps = append(m.configMaps, o)
			case "v1 Secret":
				var o corev1.Secret
				strict(&o)
				m.secrets = append(m.secrets, o)
			case "policy/v1 PodDisruptionBudget":
				var o policyv1.PodDisruptionBudget
				strict(&o)
				m.pdbs = append(m.pdbs, o)
			case "monitoring.coreos.com/v1 ServiceMonitor":
				var o serviceMonitor
				strict(&o)
				m.serviceMonitors = append(m.serviceMonitors, o)
			default:
				t.Fatalf("%s #%d: %s %s is not a kind this test knows: add it", file, i, head.APIVersion, head.Kind)
			}
		}
	}
	return m
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// TestChart renders the chart with its defaults and with a 5-member,
// ServiceMonitor-on values file, and checks each rendering.
func TestChart(t *testing.T) {
	for _, tc := range []struct {
		name           string
		values         []string
		replicas       int
		serviceMonitor bool
		admin          bool
	}{
		{"defaults", nil, 3, false, false},
		{"five members with a ServiceMonitor", []string{"testdata/five.yaml"}, 5, true, true},
		{"one node on bbolt", []string{"testdata/single.yaml"}, 1, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := render(t, tc.values...)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			m := decode(t, out)
			checkChart(t, m, tc.replicas, tc.serviceMonitor, tc.admin)
			checkNodeConfig(t, m, tc.replicas)
		})
	}
}

// TestChartRefuses: values the chart must refuse at render time, and a
// node configuration that renders but that the node refuses (the config
// check must catch it, or it would not be checking anything).
func TestChartRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, values, want string
	}{
		{"no members", "replicaCount: 0\n", "replicaCount must be at least 1"},
		{"short admin token", "admin:\n  token: short\n", "at least 16 characters"},
		{"ServiceMonitor without metrics", "metrics:\n  enabled: false\n  serviceMonitor:\n    enabled: true\n", "needs metrics.enabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(f, []byte(tc.values), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := render(t, f)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("render err = %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("a config the node refuses", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte("config:\n  log:\n    format: xml\n  tokens:\n    acess_token_ttl: 5m\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := render(t, f)
		if err != nil {
			t.Fatal(err)
		}
		m := decode(t, out)
		for _, want := range []string{"log.format", "tokens.acess_token_ttl: unknown key"} {
			if problems := configCheck(t, m, 0); !strings.Contains(problems, want) {
				t.Errorf("config check does not report %q:\n%s", want, problems)
			}
		}
	})
}

func checkChart(t *testing.T, m manifests, replicas int, wantServiceMonitor, wantAdmin bool) {
	t.Helper()
	if len(m.statefulSets) != 1 || len(m.configMaps) != 1 {
		t.Fatalf("%d StatefulSets and %d ConfigMaps, want 1 and 1", len(m.statefulSets), len(m.configMaps))
	}
	sts := m.statefulSets[0]
	pod := sts.Spec.Template.Spec
	if sts.Spec.Replicas == nil || int(*sts.Spec.Replicas) != replicas {
		t.Errorf("replicas %v, want %d", sts.Spec.Replicas, replicas)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy %q: a new etcd cluster needs its members started together", sts.Spec.PodManagementPolicy)
	}
	for k, v := range sts.Spec.Selector.MatchLabels {
		if sts.Spec.Template.Labels[k] != v {
			t.Errorf("the selector's %s=%s is not on the pod template", k, v)
		}
	}

	// The headless Service the StatefulSet names gives stable peer names,
	// also to pods that are not ready yet.
	services := map[string]corev1.Service{}
	for _, s := range m.services {
		services[s.Name] = s
	}
	peers, ok := services[sts.Spec.ServiceName]
	if !ok {
		t.Fatalf("serviceName %q is not rendered", sts.Spec.ServiceName)
	}
	if peers.Spec.ClusterIP != corev1.ClusterIPNone || !peers.Spec.PublishNotReadyAddresses {
		t.Errorf("peers Service: clusterIP %q publishNotReadyAddresses %v, want None and true", peers.Spec.ClusterIP, peers.Spec.PublishNotReadyAddresses)
	}

	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	containerPorts := map[string]int32{}
	for _, p := range c.Ports {
		containerPorts[p.Name] = p.ContainerPort
	}
	// Every Service selects the pods and targets a port the container has.
	for _, s := range m.services {
		for k, v := range s.Spec.Selector {
			if sts.Spec.Template.Labels[k] != v {
				t.Errorf("Service %s selects %s=%s, not on the pods", s.Name, k, v)
			}
		}
		for _, p := range s.Spec.Ports {
			if _, ok := containerPorts[p.TargetPort.String()]; !ok {
				t.Errorf("Service %s port %s targets %q, which the container does not declare", s.Name, p.Name, p.TargetPort.String())
			}
		}
	}

	// Probes: liveness and startup on /healthz, readiness on /readyz.
	for name, probe := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		want := "/healthz"
		if name == "readiness" {
			want = "/readyz"
		}
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe %+v, want GET %s on the http port", name, probe, want)
		}
	}

	// Hardening.
	psc, sc := pod.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || sc == nil:
		t.Fatal("no securityContext")
	case psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot, psc.RunAsUser == nil || *psc.RunAsUser != uid, psc.FSGroup == nil || *psc.FSGroup != uid:
		t.Errorf("pod securityContext %+v: want runAsNonRoot, runAsUser and fsGroup %d", psc, uid)
	case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("seccomp %+v, want RuntimeDefault", psc.SeccompProfile)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem, sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("container securityContext %+v: want a read-only root and no privilege escalation", sc)
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("capabilities %+v, want drop ALL", sc.Capabilities)
	}
	// Service links put <SERVICE>_SERVICE_HOST and the like in the pods'
	// environment: for the release "authrim" they are AUTHRIM_* variables
	// no config key has, and the node refuses to start on them.
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Error("service links are on: the node would refuse AUTHRIM_SERVICE_HOST and the like")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the service account token is mounted: the node never calls the Kubernetes API")
	}

	// /data is a claim per member.
	if len(sts.Spec.VolumeClaimTemplates) != 1 || !mounted(c, sts.Spec.VolumeClaimTemplates[0].Name, "/data") {
		t.Errorf("want one volumeClaimTemplate mounted on /data, got %v", sts.Spec.VolumeClaimTemplates)
	}

	// The Secrets: the KEK always from outside the chart (never generated
	// by a template); the admin token when asked for.
	rendered := map[string]corev1.Secret{}
	for _, s := range m.secrets {
		rendered[s.Name] = s
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	kek := volumes["kek"]
	if kek.Secret == nil {
		t.Fatal("no kek volume from a Secret")
	}
	if _, ok := rendered[kek.Secret.SecretName]; ok {
		t.Errorf("the chart renders the KEK Secret %s: an upgrade would replace the KEK", kek.Secret.SecretName)
	}
	if replicas > 1 {
		if tls := volumes["cluster-tls"]; tls.Secret == nil {
			t.Error("no cluster-tls volume from a Secret")
		}
	}
	var adminEnv *corev1.EnvVar
	for i, e := range c.Env {
		if e.Name == "AUTHRIM_ADMIN_TOKEN" {
			adminEnv = &c.Env[i]
		}
	}
	switch {
	case wantAdmin && (adminEnv == nil || adminEnv.Value != "" || adminEnv.ValueFrom == nil || adminEnv.ValueFrom.SecretKeyRef == nil):
		t.Error("the admin token is not taken from a Secret")
	case !wantAdmin && adminEnv != nil:
		t.Error("AUTHRIM_ADMIN_TOKEN is set with no admin token configured")
	}

	// PodDisruptionBudget: one member at a time.
	if len(m.pdbs) != 1 {
		t.Fatalf("%d PodDisruptionBudgets, want 1", len(m.pdbs))
	}
	pdb := m.pdbs[0]
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB %+v, want maxUnavailable 1", pdb.Spec)
	}
	for k, v := range pdb.Spec.Selector.MatchLabels {
		if sts.Spec.Template.Labels[k] != v {
			t.Errorf("the PDB selects %s=%s, not on the pods", k, v)
		}
	}

	// ServiceMonitor: selects a Service with a metrics port that targets
	// the container's metrics port.
	if got := len(m.serviceMonitors); got != map[bool]int{false: 0, true: 1}[wantServiceMonitor] {
		t.Fatalf("%d ServiceMonitors, want %v", got, wantServiceMonitor)
	}
	for _, sm := range m.serviceMonitors {
		var selected []corev1.Service
		for _, s := range m.services {
			match := true
			for k, v := range sm.Spec.Selector.MatchLabels {
				match = match && s.Labels[k] == v
			}
			if match {
				selected = append(selected, s)
			}
		}
		if len(selected) != 1 || len(sm.Spec.Endpoints) != 1 {
			t.Fatalf("ServiceMonitor selects %d Services with %d endpoints, want 1 and 1", len(selected), len(sm.Spec.Endpoints))
		}
		ep := sm.Spec.Endpoints[0]
		found := false
		for _, p := range selected[0].Spec.Ports {
			found = found || (p.Name == ep.Port && p.TargetPort.String() == "metrics")
		}
		if !found || ep.Path != "/metrics" || containerPorts["metrics"] == 0 {
			t.Errorf("ServiceMonitor endpoint %+v does not reach the container's metrics port", ep)
		}
		if _, err := time.ParseDuration(ep.Interval); err != nil {
			t.Errorf("interval %q: %v", ep.Interval, err)
		}
	}
}

func mounted(c corev1.Container, volume, path string) bool {
	for _, vm := range c.VolumeMounts {
		if vm.Name == volume && vm.MountPath == path {
			return true
		}
	}
	return false
}

var (
	buildOnce sync.Once
	authrim   string
	buildErr  error
)

// authrimBinary builds the main module's authrim command once.
func authrimBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chartcheck-")
		if err != nil {
			buildErr = err
			return
		}
		authrim = filepath.Join(dir, "authrim")
		cmd := exec.Command("go", "build", "-o", authrim, "./cmd/authrim")
		cmd.Dir = "../../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return authrim
}

func TestMain(m *testing.M) {
	code := m.Run()
	if authrim != "" {
		os.RemoveAll(filepath.Dir(authrim))
	}
	os.Exit(code)
}

// podIP is the address pod number i gets: on the subnet of the podman
// network TestChartInContainers makes.
func podIP(i int) string { return fmt.Sprintf("10.89.77.%d", 10+i) }

// podEnv is the environment Kubernetes gives pod number i of the
// StatefulSet: fieldRefs filled in, Secret values from the rendered
// Secrets (or a stand-in for one made outside the chart), and $(VAR)
// references expanded as the kubelet does (only variables defined
// earlier in the list).
func podEnv(t *testing.T, m manifests, i int) map[string]string {
	t.Helper()
	sts := m.statefulSets[0]
	c := sts.Spec.Template.Spec.Containers[0]
	fields := map[string]string{
		"metadata.name":      fmt.Sprintf("%s-%d", sts.Name, i),
		"metadata.namespace": namespace,
		"status.podIP":       podIP(i),
	}
	env := map[string]string{}
	var order []string
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	for _, e := range c.Env {
		var v string
		switch {
		case e.ValueFrom == nil:
			v = ref.ReplaceAllStringFunc(e.Value, func(s string) string {
				name := ref.FindStringSubmatch(s)[1]
				if !slices.Contains(order, name) {
					t.Errorf("env %s refers to %s, which is not defined before it (Kubernetes leaves it unexpanded)", e.Name, name)
					return s
				}
				return env[name]
			})
		case e.ValueFrom.FieldRef != nil:
			var ok bool
			if v, ok = fields[e.ValueFrom.FieldRef.FieldPath]; !ok {
				t.Fatalf("env %s: fieldRef %s", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		case e.ValueFrom.SecretKeyRef != nil:
			v = "a-secret-from-outside-the-chart"
			for _, s := range m.secrets {
				if s.Name == e.ValueFrom.SecretKeyRef.Name {
					b, ok := s.Data[e.ValueFrom.SecretKeyRef.Key]
					if !ok {
						t.Fatalf("env %s: Secret %s has no key %s", e.Name, s.Name, e.ValueFrom.SecretKeyRef.Key)
					}
					v = string(b)
				}
			}
		default:
			t.Fatalf("env %s: unsupported valueFrom", e.Name)
		}
		env[e.Name] = v
		order = append(order, e.Name)
	}
	return env
}

// configCheck runs `authrim config check` on the rendered config.yaml
// with pod i's AUTHRIM_* environment (nothing of the test's own) and
// returns its problems, "" when it accepts.
func configCheck(t *testing.T, m manifests, i int) string {
	t.Helper()
	env := podEnv(t, m, i)
	cfgPath := env["AUTHRIM_CONFIG"]
	if cfgPath == "" {
		t.Fatal("AUTHRIM_CONFIG is not set in the pod")
	}
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(m.configMaps[0].Data["config.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(authrimBinary(t), "config", "check")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		if k == "AUTHRIM_CONFIG" {
			v = file
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if stderr.Len() == 0 {
			t.Fatalf("config check: %v", err)
		}
		return stderr.String()
	}
	if !strings.Contains(stdout.String(), "configuration ok") {
		t.Fatalf("config check says %q", stdout.String())
	}
	return ""
}

// checkNodeConfig: every member's configuration (the ConfigMap plus its
// environment) is one the node accepts, the files it names are where the
// pod mounts them, the members agree on the etcd cluster, and the grace
// period outlasts the node's shutdown.
func checkNodeConfig(t *testing.T, m manifests, replicas int) {
	t.Helper()
	sts := m.statefulSets[0]
	c := sts.Spec.Template.Spec.Containers[0]
	cm := m.configMaps[0]
	// The ConfigMap is mounted where AUTHRIM_CONFIG points.
	var cfg struct {
		HTTP struct {
			Listen          string `json:"listen"`
			ShutdownTimeout string `json:"shutdown_timeout"`
			DrainDelay      string `json:"drain_delay"`
		} `json:"http"`
		Storage struct {
			Backend string `json:"backend"`
			Dir     string `json:"dir"`
			Etcd    struct {
				InitialCluster string `json:"initial_cluster"`
			} `json:"etcd"`
		} `json:"storage"`
		Keys struct {
			KEKFile string `json:"kek_file"`
		} `json:"keys"`
		Cluster struct {
			Peers []string `json:"peers"`
			TLS   struct {
				CA string `json:"ca"`
			} `json:"tls"`
		} `json:"cluster"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	if replicas > 1 && len(cfg.Cluster.Peers) != replicas {
		t.Errorf("cluster.peers %v, want every one of the %d members", cfg.Cluster.Peers, replicas)
	}
	wantBackend := map[bool]string{true: "etcd", false: "bbolt"}[replicas > 1]
	if cfg.Storage.Backend != wantBackend || cfg.Storage.Dir != "/data" {
		t.Errorf("storage %s in %s, want %s in /data", cfg.Storage.Backend, cfg.Storage.Dir, wantBackend)
	}
	initial := map[string]string{}
	if cfg.Storage.Etcd.InitialCluster != "" {
		for _, member := range strings.Split(cfg.Storage.Etcd.InitialCluster, ",") {
			name, u, _ := strings.Cut(member, "=")
			initial[name] = u
		}
	}
	if replicas > 1 && len(initial) != replicas {
		t.Errorf("initial_cluster %q has %d members, want %d", cfg.Storage.Etcd.InitialCluster, len(initial), replicas)
	}

	// Every path the node reads is inside a volume the pod mounts.
	under := func(what, path string) {
		t.Helper()
		for _, vm := range c.VolumeMounts {
			if path == vm.MountPath || strings.HasPrefix(path, strings.TrimSuffix(vm.MountPath, "/")+"/") {
				return
			}
		}
		t.Errorf("%s %q is not in any volume the pod mounts", what, path)
	}

	for i := range replicas {
		t.Run(fmt.Sprintf("pod %d", i), func(t *testing.T) {
			if problems := configCheck(t, m, i); problems != "" {
				t.Fatalf("the node refuses the chart's configuration:\n%s", problems)
			}
			env := podEnv(t, m, i)
			pod := fmt.Sprintf("%s-%d", sts.Name, i)
			if env["AUTHRIM_CLUSTER_NODE_NAME"] != pod {
				t.Errorf("node name %q, want the pod's name %s", env["AUTHRIM_CLUSTER_NODE_NAME"], pod)
			}
			under("AUTHRIM_CONFIG", env["AUTHRIM_CONFIG"])
			under("keys.kek_file", cfg.Keys.KEKFile)
			under("storage.dir", cfg.Storage.Dir)
			if replicas == 1 {
				return
			}
			under("cluster.tls.ca", cfg.Cluster.TLS.CA)
			under("AUTHRIM_CLUSTER_TLS_CERT", env["AUTHRIM_CLUSTER_TLS_CERT"])
			under("AUTHRIM_CLUSTER_TLS_KEY", env["AUTHRIM_CLUSTER_TLS_KEY"])
			// This member is in initial_cluster under its name, at its
			// stable peer DNS name, and its actor address is that name.
			host := fmt.Sprintf("%s.%s.%s.svc.cluster.local", pod, sts.Spec.ServiceName, namespace)
			if u := initial[pod]; u != fmt.Sprintf("https://%s:2380", host) {
				t.Errorf("initial_cluster has %s=%q, want https://%s:2380", pod, u, host)
			}
			if l := env["AUTHRIM_CLUSTER_LISTEN"]; !strings.HasPrefix(l, host+":") || !slices.Contains(cfg.Cluster.Peers, l) {
				t.Errorf("cluster.listen %q, want %s:port, one of cluster.peers %v", l, host, cfg.Cluster.Peers)
			}
			if l := env["AUTHRIM_STORAGE_ETCD_PEER_LISTEN"]; l != podIP(i)+":2380" {
				t.Errorf("etcd peer_listen %q, want the pod IP (etcd binds only IPs)", l)
			}
		})
	}

	// Kubernetes waits terminationGracePeriodSeconds after SIGTERM, then
	// kills: it must outlast the node's drain and shutdown.
	need := 10 * time.Second // http.shutdown_timeout's default
	if cfg.HTTP.ShutdownTimeout != "" {
		d, err := time.ParseDuration(cfg.HTTP.ShutdownTimeout)
		if err != nil {
			t.Fatal(err)
		}
		need = d
	}
	if cfg.HTTP.DrainDelay != "" {
		d, err := time.ParseDuration(cfg.HTTP.DrainDelay)
		if err != nil {
			t.Fatal(err)
		}
		need += d
	}
	if g := sts.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= need {
		t.Errorf("terminationGracePeriodSeconds %v does not outlast the drain and shutdown (%s)", g, need)
	}
}

// TestClusterCertsForThePods follows docs/DEPLOY-container.md: `authrim
// cluster certs --nodes N --hosts <every pod's peer name>`, node(i+1)'s
// files stored in the Secret as <pod-i>.pem and <pod-i>-key.pem next to
// ca.pem. Each pod must then find its certificate and key where its
// environment says, and the certificate must be valid, for client and
// server use, under every pod's peer name: peers dial that name, and etcd
// checks that a connecting peer's certificate names its address.
func TestClusterCertsForThePods(t *testing.T) {
	out, err := render(t)
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, out)
	sts := m.statefulSets[0]
	replicas := int(*sts.Spec.Replicas)
	var hosts []string
	for i := range replicas {
		hosts = append(hosts, fmt.Sprintf("%s-%d.%s.%s.svc.cluster.local", sts.Name, i, sts.Spec.ServiceName, namespace))
	}
	dir := t.TempDir()
	cmd := exec.Command(authrimBinary(t), "cluster", "certs", "--nodes", fmt.Sprint(replicas), "--out", dir, "--hosts", strings.Join(hosts, ","))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cluster certs: %v\n%s", err, b)
	}
	// The Secret as the documented kubectl command makes it.
	secret := map[string]string{"ca.pem": filepath.Join(dir, "ca.pem")}
	for i := range replicas {
		pod := fmt.Sprintf("%s-%d", sts.Name, i)
		secret[pod+".pem"] = filepath.Join(dir, fmt.Sprintf("node%d.pem", i+1))
		secret[pod+"-key.pem"] = filepath.Join(dir, fmt.Sprintf("node%d-key.pem", i+1))
	}
	c := sts.Spec.Template.Spec.Containers[0]
	var mountPath string
	for _, vm := range c.VolumeMounts {
		if vm.Name == "cluster-tls" {
			mountPath = vm.MountPath
		}
	}
	if mountPath == "" {
		t.Fatal("no cluster-tls mount")
	}
	inSecret := func(path string) string {
		t.Helper()
		key, ok := strings.CutPrefix(path, mountPath+"/")
		if !ok || secret[key] == "" {
			t.Fatalf("%s is not a key of the documented Secret (mounted at %s)", path, mountPath)
		}
		return secret[key]
	}
	var cfg struct {
		Cluster struct {
			TLS struct {
				CA string `json:"ca"`
			} `json:"tls"`
		} `json:"cluster"`
	}
	if err := yaml.Unmarshal([]byte(m.configMaps[0].Data["config.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(inSecret(cfg.Cluster.TLS.CA))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	for i := range replicas {
		env := podEnv(t, m, i)
		pair, err := tls.LoadX509KeyPair(inSecret(env["AUTHRIM_CLUSTER_TLS_CERT"]), inSecret(env["AUTHRIM_CLUSTER_TLS_KEY"]))
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hosts {
			for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				if _, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
					t.Errorf("pod %d's certificate for %s (usage %v): %v", i, h, usage, err)
				}
			}
		}
	}
}
