package interop_test

// examples/kubernetes decoded strictly into the real Kubernetes API types
// (k8s.io/api): an unknown or duplicated field, a value of the wrong type
// or a kind not listed here is an error, as `kubectl apply
// --validate=strict` would make it. Then the sidecar's wiring is checked:
// probes on the admin listener, the securityContext, and the Secret mount
// the config reads its secrets from (the config itself passes `hookguard
// check` with the mounted files). Also: the compose file's default images
// are the Dockerfiles' defaults.

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

const k8sManifest = "examples/kubernetes/hookguard-sidecar.yaml"

// k8sKinds maps "apiVersion kind" to a new object of its API type.
var k8sKinds = map[string]func() any{
	"v1 Secret":          func() any { return new(corev1.Secret) },
	"v1 ConfigMap":       func() any { return new(corev1.ConfigMap) },
	"v1 Service":         func() any { return new(corev1.Service) },
	"apps/v1 Deployment": func() any { return new(appsv1.Deployment) },
}

var yamlDocSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeManifests decodes every document of a multi-document YAML file
// into its API type, strictly.
func decodeManifests(data []byte) ([]any, error) {
	var objs []any
	for i, doc := range yamlDocSep.Split(string(data), -1) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if tm == (metav1.TypeMeta{}) && strings.TrimSpace(stripYAMLComments(doc)) == "" {
			continue // only comments
		}
		newObj, ok := k8sKinds[tm.APIVersion+" "+tm.Kind]
		if !ok {
			return nil, fmt.Errorf("document %d: apiVersion %q kind %q is not one this test knows", i+1, tm.APIVersion, tm.Kind)
		}
		obj := newObj()
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i+1, tm.Kind, err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

func stripYAMLComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// sidecar is the manifest's objects, found by kind.
type sidecar struct {
	secret     *corev1.Secret
	config     *corev1.ConfigMap
	service    *corev1.Service
	deployment *appsv1.Deployment
}

func findSidecar(objs []any) (sidecar, error) {
	var s sidecar
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Secret:
			s.secret = o
		case *corev1.ConfigMap:
			s.config = o
		case *corev1.Service:
			s.service = o
		case *appsv1.Deployment:
			s.deployment = o
		}
	}
	if s.secret == nil || s.config == nil || s.service == nil || s.deployment == nil {
		return s, errors.New("want one Secret, ConfigMap, Service and Deployment")
	}
	return s, nil
}

// hookguardConfig is the part of hookguard.yaml the wiring depends on.
type hookguardConfig struct {
	Listen string `json:"listen"`
	Admin  struct {
		Listen string `json:"listen"`
		Token  string `json:"token"`
	} `json:"admin"`
	Routes []struct {
		Secrets map[string]any `json:"secrets"`
		Forward struct {
			SigningSecret string `json:"signing_secret"`
		} `json:"forward"`
	} `json:"routes"`
}

// secretFiles lists the file: secrets of a config.
func (c hookguardConfig) secretFiles() []string {
	var files []string
	add := func(v any) {
		switch v := v.(type) {
		case string:
			if p, ok := strings.CutPrefix(v, "file:"); ok {
				files = append(files, p)
			}
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok {
					if p, ok := strings.CutPrefix(s, "file:"); ok {
						files = append(files, p)
					}
				}
			}
		}
	}
	add(c.Admin.Token)
	for _, r := range c.Routes {
		for _, v := range r.Secrets {
			add(v)
		}
		add(r.Forward.SigningSecret)
	}
	return files
}

// checkSidecar checks the hookguard container's wiring and returns every
// problem found.
func checkSidecar(s sidecar) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	d := s.deployment
	if d.Spec.Selector == nil || !labelsMatch(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		bad("deployment: selector does not match the pod template's labels")
	}
	pod := d.Spec.Template.Spec
	i := slices.IndexFunc(pod.Containers, func(c corev1.Container) bool { return c.Name == "hookguard" })
	if i < 0 {
		return errors.New("deployment: no container named hookguard")
	}
	c := pod.Containers[i]

	// The config, from the ConfigMap volume.
	cfgText, ok := s.config.Data["hookguard.yaml"]
	if !ok {
		bad("configmap %s: no key hookguard.yaml", s.config.Name)
	}
	var cfg hookguardConfig
	if err := yaml.Unmarshal([]byte(cfgText), &cfg); err != nil {
		bad("configmap %s: hookguard.yaml: %v", s.config.Name, err)
	}
	if !slices.Equal(c.Args, []string{"serve", "--config", "/etc/hookguard/hookguard.yaml"}) {
		bad("hookguard: args %q, want serve --config /etc/hookguard/hookguard.yaml", c.Args)
	}
	if v := volumeAt(pod, c, "/etc/hookguard"); v == nil || v.ConfigMap == nil || v.ConfigMap.Name != s.config.Name {
		bad("hookguard: /etc/hookguard is not the ConfigMap %s", s.config.Name)
	}

	// Ports and probes: the kubelet probes the pod IP, so the admin
	// listener must not be on loopback, and the probe's port must be it.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	portOf := func(what, addr string) int32 {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			bad("config: %s %q: %v", what, addr, err)
			return 0
		}
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			bad("config: %s %q is loopback: the kubelet and the Service cannot reach it", what, addr)
		}
		var n int32
		fmt.Sscan(port, &n)
		return n
	}
	if p := portOf("listen", cfg.Listen); ports["webhooks"] != p {
		bad("hookguard: port webhooks is %d, the config listens on %d", ports["webhooks"], p)
	}
	if p := portOf("admin.listen", cfg.Admin.Listen); ports["admin"] != p {
		bad("hookguard: port admin is %d, the admin listener is on %d", ports["admin"], p)
	}
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"readinessProbe", c.ReadinessProbe, "/readyz"},
		{"livenessProbe", c.LivenessProbe, "/healthz"},
	} {
		switch {
		case pr.probe == nil || pr.probe.HTTPGet == nil:
			bad("hookguard: no %s httpGet", pr.name)
		case pr.probe.HTTPGet.Path != pr.path:
			bad("hookguard: %s asks %s, want %s", pr.name, pr.probe.HTTPGet.Path, pr.path)
		case containerPort(c, pr.probe.HTTPGet.Port) != ports["admin"]:
			bad("hookguard: %s port %s is not the admin port", pr.name, pr.probe.HTTPGet.Port.String())
		}
	}
	if tp := s.service.Spec.Ports; len(tp) != 1 || containerPort(c, tp[0].TargetPort) != ports["webhooks"] {
		bad("service %s: targetPort is not hookguard's webhooks port", s.service.Name)
	}
	if !labelsMatch(s.service.Spec.Selector, d.Spec.Template.Labels) {
		bad("service %s: selector does not match the pods", s.service.Name)
	}

	// securityContext: the image's nonroot user (65532), nothing more.
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		bad("pod: runAsNonRoot is not true")
	}
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 65532 || psc.RunAsGroup == nil || *psc.RunAsGroup != 65532 {
		bad("pod: runAsUser/runAsGroup are not 65532 (the image's nonroot)")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		bad("pod: seccompProfile is not RuntimeDefault")
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		bad("hookguard: readOnlyRootFilesystem is not true")
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		bad("hookguard: allowPrivilegeEscalation is not false")
	}
	if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		bad("hookguard: capabilities do not drop ALL (or add some)")
	}
	if sc != nil && sc.Privileged != nil && *sc.Privileged {
		bad("hookguard: privileged")
	}

	// The Secret mount: every file: secret of the config is a key of the
	// Secret, mounted read-only where the config reads it.
	for _, f := range cfg.secretFiles() {
		dir, key := filepath.Split(f)
		v := volumeAt(pod, c, filepath.Clean(dir))
		switch {
		case v == nil || v.Secret == nil:
			bad("hookguard: %s is not in a Secret volume", f)
		case v.Secret.SecretName != s.secret.Name:
			bad("hookguard: %s is in Secret %s, the manifest's is %s", f, v.Secret.SecretName, s.secret.Name)
		case len(v.Secret.Items) > 0:
			bad("hookguard: Secret volume %s lists items; the config expects every key as a file", v.Name)
		case !hasSecretKey(s.secret, key):
			bad("hookguard: %s: Secret %s has no key %s", f, s.secret.Name, key)
		}
		if m := mountAt(c, filepath.Clean(dir)); m != nil && !m.ReadOnly {
			bad("hookguard: %s is not mounted read-only", m.MountPath)
		}
	}
	if len(cfg.secretFiles()) == 0 {
		bad("config: no file: secrets (the Secret is never read)")
	}
	return errors.Join(errs...)
}

func labelsMatch(selector, labels map[string]string) bool {
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

// containerPort resolves a port by number or by name.
func containerPort(c corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return -1
}

func mountAt(c corev1.Container, path string) *corev1.VolumeMount {
	for i, m := range c.VolumeMounts {
		if filepath.Clean(m.MountPath) == path {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func volumeAt(pod corev1.PodSpec, c corev1.Container, path string) *corev1.Volume {
	m := mountAt(c, path)
	if m == nil {
		return nil
	}
	for i, v := range pod.Volumes {
		if v.Name == m.Name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

func hasSecretKey(s *corev1.Secret, key string) bool {
	_, inString := s.StringData[key]
	_, inData := s.Data[key]
	return inString || inData
}

func TestKubernetesManifest(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), k8sManifest))
	if err != nil {
		t.Fatal(err)
	}
	orig := string(data)
	// replace returns the manifest with old (which must occur once) replaced.
	replace := func(old, new string) string {
		if strings.Count(orig, old) != 1 {
			t.Fatalf("%s: %q does not occur exactly once", k8sManifest, old)
		}
		return strings.Replace(orig, old, new, 1)
	}

	tests := []struct {
		name      string
		manifest  string
		decodeErr string // the strict decoding must fail with this
		checkErr  string // the wiring check must fail with this
	}{
		{name: "as shipped", manifest: orig},

		{name: "unknown field", manifest: replace("readinessProbe:", "readinesProbe:"), decodeErr: `unknown field "readinesProbe"`},
		{name: "unknown top-level field", manifest: replace("kind: Service\n", "kind: Service\nstatus_: {}\n"), decodeErr: `unknown field "status_"`},
		{name: "duplicate field", manifest: replace("  replicas: 2\n", "  replicas: 2\n  replicas: 3\n"), decodeErr: `"replicas" already set`},
		{name: "wrong type", manifest: replace("runAsNonRoot: true", `runAsNonRoot: "true"`), decodeErr: "cannot unmarshal string into Go struct field"},
		{name: "unknown kind", manifest: replace("apiVersion: apps/v1\nkind: Deployment", "apiVersion: apps/v1beta1\nkind: Deployment"), decodeErr: "is not one this test knows"},

		{name: "admin on loopback", manifest: replace(`listen: ":9090"`, `listen: "127.0.0.1:9090"`), checkErr: "is loopback"},
		{name: "admin token not in the Secret", manifest: replace("  admin-token: ", "  admin-key: "), checkErr: "has no key admin-token"},
		{name: "readiness on the webhook port", manifest: replace("httpGet: {path: /readyz, port: admin}", "httpGet: {path: /readyz, port: webhooks}"), checkErr: "readinessProbe port webhooks is not the admin port"},
		{name: "liveness path", manifest: replace("path: /healthz", "path: /livez"), checkErr: "livenessProbe asks /livez"},
		{name: "writable root", manifest: replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"), checkErr: "readOnlyRootFilesystem is not true"},
		{name: "root user", manifest: replace("runAsUser: 65532", "runAsUser: 0"), checkErr: "runAsUser/runAsGroup are not 65532"},
		{name: "capabilities kept", manifest: replace("capabilities: {drop: [ALL]}", "capabilities: {drop: [NET_RAW]}"), checkErr: "capabilities do not drop ALL"},
		{name: "secret key missing", manifest: replace("  forward-secret: ", "  forward-key: "), checkErr: "has no key forward-secret"},
		{name: "secret not mounted", manifest: replace("mountPath: /run/secrets/hookguard,", "mountPath: /run/secrets/other,"), checkErr: "is not in a Secret volume"},
		{name: "secret mount writable", manifest: replace("mountPath: /run/secrets/hookguard, readOnly: true", "mountPath: /run/secrets/hookguard, readOnly: false"), checkErr: "is not mounted read-only"},
		{name: "other secret", manifest: replace("secretName: hookguard-secrets", "secretName: app-secrets"), checkErr: "is in Secret app-secrets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := decodeManifests([]byte(tt.manifest))
			if tt.decodeErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.decodeErr) {
					t.Fatalf("decode: got %v, want an error with %q", err, tt.decodeErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			s, err := findSidecar(objs)
			if err != nil {
				t.Fatal(err)
			}
			err = checkSidecar(s)
			if tt.checkErr == "" {
				if err != nil {
					t.Fatalf("check:\n%v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.checkErr) {
				t.Fatalf("check: got %v, want an error with %q", err, tt.checkErr)
			}
		})
	}
}

// TestKubernetesConfigChecks runs `hookguard check` on the ConfigMap's
// config with the Secret's keys as the mounted files, filled with valid
// secrets as a user replaces the placeholders.
func TestKubernetesConfigChecks(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, k8sManifest))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeManifests(data)
	if err != nil {
		t.Fatal(err)
	}
	s, err := findSidecar(objs)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mount := "/run/secrets/hookguard/"
	values := map[string]string{
		"livekit-api-secret": "k8s-example-livekit-secret-0123456789",
		"forward-secret":     "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"admin-token":        "k8s-example-admin-token-0123456789",
	}
	for key := range s.secret.StringData {
		v, ok := values[key]
		if !ok {
			t.Fatalf("Secret key %s: the test has no value for it", key)
		}
		if err := os.WriteFile(filepath.Join(dir, key), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := strings.ReplaceAll(s.config.Data["hookguard.yaml"], mount, dir+"/")
	path := filepath.Join(dir, "hookguard.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runCmd(t, root, nil, buildHookguard(t), "check", "--config", path)
	if !bytes.Contains(out, []byte("config ok")) {
		t.Fatalf("hookguard check:\n%s", out)
	}
}

// TestComposeImageDefaults: the compose file's image variables default to
// what the Dockerfiles use, so `docker compose up --build` builds as
// `docker build` does.
func TestComposeImageDefaults(t *testing.T) {
	root := repoRoot(t)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	argDefault := regexp.MustCompile(`(?m)^ARG (GO_IMAGE|RUNTIME_IMAGE)=(\S+)$`)
	varDefault := regexp.MustCompile(`\$\{(GO_IMAGE|RUNTIME_IMAGE|REDIS_IMAGE):-([^}]+)\}`)
	compose := map[string]string{}
	for _, m := range varDefault.FindAllStringSubmatch(read("examples/compose/docker-compose.yml"), -1) {
		if old, ok := compose[m[1]]; ok && old != m[2] {
			t.Errorf("docker-compose.yml: ${%s} defaults to both %s and %s", m[1], old, m[2])
		}
		compose[m[1]] = m[2]
	}
	if got, want := compose["REDIS_IMAGE"], "redis:7-alpine"; got != want {
		t.Errorf("docker-compose.yml: REDIS_IMAGE defaults to %q, want %q", got, want)
	}
	for _, df := range []string{"Dockerfile", "examples/go-backend/Dockerfile"} {
		t.Run(df, func(t *testing.T) {
			args := argDefault.FindAllStringSubmatch(read(df), -1)
			if len(args) != 2 {
				t.Fatalf("want ARG GO_IMAGE=... and ARG RUNTIME_IMAGE=..., found %q", args)
			}
			for _, m := range args {
				if compose[m[1]] != m[2] {
					t.Errorf("%s: ARG %s=%s, docker-compose.yml defaults it to %q", df, m[1], m[2], compose[m[1]])
				}
			}
		})
	}
}
