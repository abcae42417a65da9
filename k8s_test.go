package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"mfn/jobs"
	pb "mfn/proto"
	"mfn/server"
)

// serviceMonitor is the part of prometheus-operator's ServiceMonitor that k8s.yaml uses;
// its CRD types are not in k8s.io/api, and strict decoding still rejects unknown fields.
type serviceMonitor struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Metadata   map[string]any     `json:"metadata"`
	Spec       serviceMonitorSpec `json:"spec"`
}

type serviceMonitorSpec struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	NamespaceSelector struct {
		MatchNames []string `json:"matchNames"`
	} `json:"namespaceSelector"`
	Endpoints []struct {
		Port          string `json:"port"`
		Path          string `json:"path"`
		Interval      string `json:"interval"`
		ScrapeTimeout string `json:"scrapeTimeout"`
	} `json:"endpoints"`
}

// prometheusRule is prometheus-operator's PrometheusRule as k8s.yaml uses it (strict).
type prometheusRule struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       ruleFile       `json:"spec"`
}

// ruleFile is a Prometheus rule file: deploy/prometheus-rules.yaml and a PrometheusRule's spec.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for,omitempty"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// manifest is every object of k8s.yaml, decoded strictly into its API type.
type manifest struct {
	namespaces  []corev1.Namespace
	configMaps  []corev1.ConfigMap
	secrets     []corev1.Secret
	deployments []appsv1.Deployment
	services    []corev1.Service
	hpas        []autoscalingv2.HorizontalPodAutoscaler
	pdbs        []policyv1.PodDisruptionBudget
	netpols     []networkingv1.NetworkPolicy
	ingresses   []networkingv1.Ingress
	monitors    []serviceMonitor
	rules       []prometheusRule
}

func decodeManifest(t *testing.T, path string) manifest {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var m manifest
	for i, doc := range bytes.Split(raw, []byte("\n---\n")) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		require.NoError(t, yaml.Unmarshal(doc, &head), "document %d", i)
		switch head.APIVersion + " " + head.Kind {
		case "v1 Namespace":
			m.namespaces = decodeStrict(t, i, doc, m.namespaces)
		case "v1 ConfigMap":
			m.configMaps = decodeStrict(t, i, doc, m.configMaps)
		case "v1 Secret":
			m.secrets = decodeStrict(t, i, doc, m.secrets)
		case "apps/v1 Deployment":
			m.deployments = decodeStrict(t, i, doc, m.deployments)
		case "v1 Service":
			m.services = decodeStrict(t, i, doc, m.services)
		case "autoscaling/v2 HorizontalPodAutoscaler":
			m.hpas = decodeStrict(t, i, doc, m.hpas)
		case "policy/v1 PodDisruptionBudget":
			m.pdbs = decodeStrict(t, i, doc, m.pdbs)
		case "networking.k8s.io/v1 NetworkPolicy":
			m.netpols = decodeStrict(t, i, doc, m.netpols)
		case "networking.k8s.io/v1 Ingress":
			m.ingresses = decodeStrict(t, i, doc, m.ingresses)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			m.monitors = decodeStrict(t, i, doc, m.monitors)
		case "monitoring.coreos.com/v1 PrometheusRule":
			m.rules = decodeStrict(t, i, doc, m.rules)
		default:
			t.Fatalf("document %d: unexpected %s %s", i, head.APIVersion, head.Kind)
		}
	}
	return m
}

// decodeStrict decodes document i into a new T (unknown fields fail) and appends it.
func decodeStrict[T any](t *testing.T, i int, doc []byte, list []T) []T {
	t.Helper()
	var obj T
	require.NoError(t, yaml.UnmarshalStrict(doc, &obj), "document %d (%T)", i, obj)
	return append(list, obj)
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestK8sManifest(t *testing.T) {
	m := decodeManifest(t, "k8s.yaml")
	require.Len(t, m.namespaces, 1)
	require.Len(t, m.deployments, 1)
	require.Len(t, m.services, 1)
	require.Len(t, m.configMaps, 1)
	require.Len(t, m.secrets, 1)
	require.Len(t, m.hpas, 1)
	require.Len(t, m.pdbs, 1)
	require.Len(t, m.netpols, 1)
	require.Len(t, m.monitors, 1)
	require.Len(t, m.rules, 1)
	require.NotEmpty(t, m.ingresses)

	ns := m.namespaces[0].Name
	dep, svc := m.deployments[0], m.services[0]
	pod := dep.Spec.Template

	t.Run("everything lives in the namespace", func(t *testing.T) {
		for _, name := range []string{dep.Namespace, svc.Namespace, m.configMaps[0].Namespace, m.secrets[0].Namespace,
			m.hpas[0].Namespace, m.pdbs[0].Namespace, m.netpols[0].Namespace, m.monitors[0].Metadata["namespace"].(string)} {
			require.Equal(t, ns, name)
		}
		for _, ing := range m.ingresses {
			require.Equal(t, ns, ing.Namespace)
		}
	})

	t.Run("no real key is committed", func(t *testing.T) {
		for k, v := range m.secrets[0].StringData {
			require.Empty(t, v, "secret key %s", k)
		}
		require.Empty(t, m.secrets[0].Data)
	})

	t.Run("deployment", func(t *testing.T) {
		require.Nil(t, dep.Spec.Replicas, "the HPA owns the replica count; a replicas field resets it on every apply")
		require.True(t, matches(dep.Spec.Selector.MatchLabels, pod.Labels), "deployment selector must match its pods")
		require.Len(t, pod.Spec.Containers, 1)
		c := pod.Spec.Containers[0]
		require.Equal(t, []string{"/mfn", "serve"}, c.Command)
		// <registry>/<name>:<version>: a registry host (with a dot or port) and a real tag.
		repo, tag, ok := strings.Cut(c.Image[strings.LastIndex(c.Image, "/")+1:], ":")
		require.True(t, ok, "image %q has a version tag", c.Image)
		require.NotEqual(t, "latest", tag)
		require.NotEmpty(t, repo)
		host, _, hasHost := strings.Cut(c.Image, "/")
		require.True(t, hasHost && strings.ContainsAny(host, ".:"), "image %q names a registry", c.Image)
		require.Equal(t, corev1.PullIfNotPresent, c.ImagePullPolicy)
		require.Equal(t, "prod", envValue(c, "MFN_ENV"), "secure profile even if the ConfigMap loses env")
		require.True(t, *pod.Spec.SecurityContext.RunAsNonRoot)
		require.NotZero(t, *pod.Spec.SecurityContext.RunAsUser)
		require.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
		require.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
		require.False(t, c.Resources.Requests.Cpu().IsZero())
		require.False(t, c.Resources.Requests.Memory().IsZero())
		require.False(t, c.Resources.Limits.Cpu().IsZero())
		require.False(t, c.Resources.Limits.Memory().IsZero())

		require.Len(t, c.Ports, 2, "REST, gRPC and WebSocket share one port; the admin listener has the other")
		require.Equal(t, "admin", c.Ports[1].Name)
		port := c.Ports[0]
		require.EqualValues(t, 8000, port.ContainerPort)

		// HTTP probes hit served paths on the served port; the gRPC probe hits the same port.
		require.Equal(t, "/health", c.LivenessProbe.HTTPGet.Path)
		require.Equal(t, "/ready", c.ReadinessProbe.HTTPGet.Path)
		for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
			require.Equal(t, port.Name, p.HTTPGet.Port.String())
		}
		require.NotNil(t, c.StartupProbe.GRPC, "a gRPC health probe")
		require.Equal(t, port.ContainerPort, c.StartupProbe.GRPC.Port)

		// The config comes from the ConfigMap, mounted where MFN_CONFIG points.
		var configPath string
		for _, e := range c.Env {
			if e.Name == "MFN_CONFIG" {
				configPath = e.Value
			}
		}
		require.NotEmpty(t, configPath)
		var mounted bool
		for _, vm := range c.VolumeMounts {
			for _, v := range pod.Spec.Volumes {
				if v.Name == vm.Name && v.ConfigMap != nil && v.ConfigMap.Name == m.configMaps[0].Name {
					_, ok := m.configMaps[0].Data[strings.TrimPrefix(configPath, vm.MountPath+"/")]
					mounted = mounted || ok
				}
			}
		}
		require.True(t, mounted, "MFN_CONFIG must point at a key of the mounted ConfigMap")
		for _, vm := range c.VolumeMounts {
			require.Empty(t, vm.SubPath, "%s: a subPath mount never sees ConfigMap updates, so reload could not work", vm.Name)
		}
		require.Equal(t, m.secrets[0].Name, c.EnvFrom[0].SecretRef.Name)
	})

	t.Run("GOMEMLIMIT follows the memory limit", func(t *testing.T) {
		c := pod.Spec.Containers[0]
		limit := c.Resources.Limits.Memory().Value()
		// Expand $(VAR) as the kubelet does, with the downward API's value of each variable.
		vars := map[string]string{}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory" {
				div := e.ValueFrom.ResourceFieldRef.Divisor.Value()
				vars[e.Name] = strconv.FormatInt((limit+div-1)/div, 10) // the kubelet rounds up
			}
		}
		raw := envValue(c, "GOMEMLIMIT")
		require.NotEmpty(t, raw)
		expanded := os.Expand(strings.NewReplacer("$(", "${", ")", "}").Replace(raw), func(k string) string {
			v, ok := vars[k]
			require.True(t, ok, "GOMEMLIMIT refers to %s, which is not the memory limit", k)
			return v
		})
		require.True(t, strings.HasSuffix(expanded, "B") && !strings.HasSuffix(expanded, "iB"), "bytes: %s", expanded)
		n, err := strconv.ParseInt(strings.TrimSuffix(expanded, "B"), 10, 64)
		require.NoError(t, err, expanded)
		ratio := float64(n) / float64(limit)
		require.True(t, ratio > 0.85 && ratio < 0.97, "GOMEMLIMIT %s is %.1f %% of the limit", expanded, 100*ratio)
	})

	t.Run("service", func(t *testing.T) {
		require.True(t, matches(svc.Spec.Selector, pod.Labels), "service selector must match the pod labels")
		proto := map[string]string{}
		for _, p := range svc.Spec.Ports {
			if p.Name != "admin" {
				require.Equal(t, pod.Spec.Containers[0].Ports[0].Name, p.TargetPort.String(), "every API Service port leads to the one container port")
			}
			require.NotNil(t, p.AppProtocol, p.Name)
			proto[p.Name] = *p.AppProtocol
		}
		// REST/WebSocket are HTTP/1.1 only behind cmux; gRPC is HTTP/2 cleartext.
		require.Equal(t, map[string]string{"http": "http", "grpc": "kubernetes.io/h2c", "admin": "http"}, proto)
	})

	t.Run("ingress publishes the API, not /metrics or /ready", func(t *testing.T) {
		svcPorts := map[string]bool{}
		for _, p := range svc.Spec.Ports {
			svcPorts[p.Name] = true
		}
		var restPaths, grpcPaths []networkingv1.HTTPIngressPath
		for _, ing := range m.ingresses {
			require.NotEmpty(t, ing.Spec.TLS, ing.Name)
			require.NotContains(t, ing.Annotations, "nginx.ingress.kubernetes.io/rewrite-target")
			grpcIng := ing.Annotations["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPC"
			for _, r := range ing.Spec.Rules {
				for _, p := range r.HTTP.Paths {
					require.Equal(t, svc.Name, p.Backend.Service.Name)
					require.True(t, svcPorts[p.Backend.Service.Port.Name], "port %s", p.Backend.Service.Port.Name)
					for _, internal := range []string{"/metrics", "/ready"} {
						require.False(t, ingressMatches(p, internal), "%s: %s reaches %s", ing.Name, p.Path, internal)
					}
					if grpcIng {
						require.Equal(t, "grpc", p.Backend.Service.Port.Name)
						grpcPaths = append(grpcPaths, p)
					} else {
						require.Equal(t, "http", p.Backend.Service.Port.Name)
						restPaths = append(restPaths, p)
					}
				}
			}
		}
		// Every route mfn serves, except the internal two, is reachable through the Ingress.
		for _, route := range serverRoutes(t) {
			if route == "/metrics" || route == "/ready" {
				continue
			}
			reached := false
			for _, p := range restPaths {
				reached = reached || ingressMatches(p, route)
			}
			require.True(t, reached, "route %s is not in the Ingress", route)
		}
		for _, service := range []string{pb.MyceliumService_ServiceDesc.ServiceName, healthpb.Health_ServiceDesc.ServiceName} {
			reached := false
			for _, p := range grpcPaths {
				reached = reached || ingressMatches(p, "/"+service+"/Check")
			}
			require.True(t, reached, "gRPC service %s is not in the Ingress", service)
		}
	})

	t.Run("service monitor selects the service", func(t *testing.T) {
		sm := m.monitors[0]
		require.True(t, matches(sm.Spec.Selector.MatchLabels, svc.Labels))
		require.Contains(t, sm.Spec.NamespaceSelector.MatchNames, ns)
		// The admin port: /metrics is off the main port (server.metrics.main_port: false).
		require.Equal(t, "admin", sm.Spec.Endpoints[0].Port)
		require.Equal(t, "/metrics", sm.Spec.Endpoints[0].Path)
		admin := false
		for _, p := range svc.Spec.Ports {
			admin = admin || (p.Name == "admin" && p.TargetPort.StrVal == "admin")
		}
		require.True(t, admin, "the Service exposes the admin port")
		cfg := m.configMaps[0].Data["mfn.yaml"]
		require.Contains(t, cfg, "admin_addr: 0.0.0.0:9090")
		require.Contains(t, cfg, "main_port: false")
		labels, _ := sm.Metadata["labels"].(map[string]any)
		require.NotEmpty(t, labels["release"], "kube-prometheus-stack selects ServiceMonitors on release=<its release>")
	})

	t.Run("prometheus rule equals deploy/prometheus-rules.yaml", func(t *testing.T) {
		var file ruleFile
		require.NoError(t, yaml.UnmarshalStrict(mustRead(t, "deploy/prometheus-rules.yaml"), &file))
		require.NotEmpty(t, file.Groups)
		require.Equal(t, file, m.rules[0].Spec)
		labels, _ := m.rules[0].Metadata["labels"].(map[string]any)
		require.NotEmpty(t, labels["release"], "kube-prometheus-stack selects PrometheusRules on release=<its release>")
	})

	t.Run("autoscaling and disruption", func(t *testing.T) {
		h := m.hpas[0]
		require.Equal(t, dep.Name, h.Spec.ScaleTargetRef.Name)
		require.EqualValues(t, 3, *h.Spec.MinReplicas)
		require.EqualValues(t, 100, h.Spec.MaxReplicas)
		require.Equal(t, corev1.ResourceCPU, h.Spec.Metrics[0].Resource.Name)
		require.True(t, matches(m.pdbs[0].Spec.Selector.MatchLabels, pod.Labels))
	})

	t.Run("network policy", func(t *testing.T) {
		np := m.netpols[0]
		require.True(t, matches(np.Spec.PodSelector.MatchLabels, pod.Labels))
		var admitted []string
		for _, rule := range np.Spec.Ingress {
			for _, peer := range rule.From {
				admitted = append(admitted, peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"])
			}
			for _, p := range rule.Ports {
				if p.Port.IntVal == 9090 { // the admin port: Prometheus only
					require.Len(t, rule.From, 1)
					require.Equal(t, "monitoring", rule.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"])
					continue
				}
				require.Equal(t, pod.Spec.Containers[0].Ports[0].ContainerPort, p.Port.IntVal)
			}
		}
		require.ElementsMatch(t, []string{"ingress-nginx", "monitoring", "monitoring"}, admitted)
		egress := map[int32]bool{}
		for _, rule := range np.Spec.Egress {
			for _, p := range rule.Ports {
				egress[p.Port.IntVal] = true
			}
		}
		for _, port := range []int32{53, 9092, 443} {
			require.True(t, egress[port], "egress to port %d (DNS, Kafka, webhooks)", port)
		}
		// In-cluster Kafka is matched as pods (namespace + pod labels): some network plugins
		// never match pod traffic against an ipBlock.
		kafka := false
		for _, rule := range np.Spec.Egress {
			hasPort := false
			for _, p := range rule.Ports {
				hasPort = hasPort || p.Port.IntVal == 9092
			}
			for _, peer := range rule.To {
				if hasPort && peer.IPBlock == nil && peer.NamespaceSelector != nil && peer.PodSelector != nil &&
					len(peer.NamespaceSelector.MatchLabels) > 0 && len(peer.PodSelector.MatchLabels) > 0 {
					kafka = true
				}
				if hasPort {
					require.Nil(t, peer.IPBlock, "Kafka egress through an ipBlock")
				}
			}
		}
		require.True(t, kafka, "egress to Kafka by namespaceSelector and podSelector")
	})

	t.Run("a ConfigMap edit reaches mfn", func(t *testing.T) {
		// Mounted as a directory (checked above), and mfn reloads the file; the header
		// says which keys apply at once and why no checksum annotation is wanted.
		raw := string(mustRead(t, "k8s.yaml"))
		require.Contains(t, raw, "checksum/config")
		require.Contains(t, raw, "kubectl -n "+ns+" set image deployment/"+dep.Name+" "+pod.Spec.Containers[0].Name+"=")
	})

	t.Run("termination grace exceeds mfn's", func(t *testing.T) {
		require.GreaterOrEqual(t, *pod.Spec.TerminationGracePeriodSeconds, int64(30))
	})
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// ingressMatches reports whether an Ingress path rule takes path, with the Kubernetes
// semantics of Exact and Prefix (element-wise: /api matches /api/x, not /apix).
func ingressMatches(p networkingv1.HTTPIngressPath, path string) bool {
	switch *p.PathType {
	case networkingv1.PathTypeExact:
		return p.Path == path
	case networkingv1.PathTypePrefix:
		prefix := strings.TrimSuffix(p.Path, "/")
		return prefix == "" || path == prefix || strings.HasPrefix(path, prefix+"/")
	}
	return false
}

// serverRoutes are the HTTP paths mfn serves, from the server itself.
func serverRoutes(t *testing.T) []string {
	t.Helper()
	reg := prometheus.NewRegistry()
	pool, err := jobs.NewPool(jobs.DefaultPoolConfig(), reg)
	require.NoError(t, err)
	srv, err := server.New(server.Params{HTTP: server.DefaultConfig(), GRPC: server.DefaultGRPCConfig(),
		WS: server.DefaultWSConfig(), Runner: pool, Registry: reg})
	require.NoError(t, err)
	var out []string
	for _, r := range srv.Routes() {
		if !strings.Contains(r.Path, "*") {
			out = append(out, r.Path)
		}
	}
	require.NotEmpty(t, out)
	return out
}
