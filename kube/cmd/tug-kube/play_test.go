package main

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"tug/kube/plan"
)

func playYAML(t *testing.T, yaml string) (*plan.Plan, error) {
	t.Helper()
	return play(&plan.PlayRequest{Files: []plan.Source{{Name: "app.yaml", Data: []byte(yaml)}}})
}

const app = `apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {greeting: hello, app.conf: "mode=fast\n"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
data: {password: c2VjcmV0}
stringData: {user: admin}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      restartPolicy: Always
      initContainers:
      - {name: setup, image: busybox, command: [sh, -c, "echo init"]}
      containers:
      - name: srv
        image: busybox:1.36
        command: [httpd]
        args: [-f, -p, "80"]
        workingDir: /srv
        env:
        - {name: GREETING, valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}}
        - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
        - {name: PLAIN, value: "1"}
        envFrom:
        - {configMapRef: {name: cfg}, prefix: CFG_}
        ports:
        - {containerPort: 80, hostPort: 8080}
        - {containerPort: 53, hostPort: 5353, protocol: UDP, hostIP: 127.0.0.1}
        - {containerPort: 9000}
        volumeMounts:
        - {name: conf, mountPath: /etc/cfg}
        - {name: data, mountPath: /data}
        - {name: scratch, mountPath: /tmp/s}
        - {name: host, mountPath: /host, readOnly: true}
        - {name: secret, mountPath: /run/secret}
        resources:
          limits: {memory: 64Mi, cpu: 500m}
          requests: {memory: 32Mi}
        securityContext:
          runAsUser: 1000
          runAsGroup: 100
          readOnlyRootFilesystem: true
          capabilities: {add: [NET_ADMIN], drop: [MKNOD]}
        livenessProbe:
          httpGet: {path: /healthz, port: 80}
          periodSeconds: 5
        lifecycle:
          preStop: {exec: {command: ["true"]}}
      volumes:
      - {name: conf, configMap: {name: cfg, items: [{key: app.conf, path: conf/app.conf, mode: 0600}]}}
      - {name: data, persistentVolumeClaim: {claimName: data}}
      - {name: scratch, emptyDir: {}}
      - {name: host, hostPath: {path: /srv/host, type: Directory}}
      - {name: secret, secret: {secretName: creds}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
`

// TestPlay: a Deployment with every kind of field tug carries out comes
// to the plan a user would expect; what tug does not carry out is
// warned about.
func TestPlay(t *testing.T) {
	p, err := playYAML(t, app)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Pods) != 2 || p.Pods[0].Name != "web-pod-0" || p.Pods[1].Name != "web-pod-1" {
		t.Fatalf("pods: %+v", p.Pods)
	}
	pod := p.Pods[0]
	if pod.Kind != "Deployment" || pod.Owner != "web" || pod.Restart != "always" || pod.Labels["app"] != "web" {
		t.Errorf("pod: %+v", pod)
	}
	if want := []string{"8080:80/tcp", "127.0.0.1:5353:53/udp"}; !slices.Equal(pod.Ports, want) {
		t.Errorf("ports %v, want %v", pod.Ports, want)
	}
	if len(pod.Init) != 1 || pod.Init[0].Name != "setup" {
		t.Errorf("init containers: %+v", pod.Init)
	}
	c := pod.Containers[0]
	if !slices.Equal(c.Entrypoint, []string{"httpd"}) || !slices.Equal(c.Cmd, []string{"-f", "-p", "80"}) || c.WorkingDir != "/srv" || c.Pull != "missing" {
		t.Errorf("command: %+v", c)
	}
	wantEnv := []string{"CFG_app.conf=mode=fast\n", "CFG_greeting=hello", "GREETING=hello", "PASSWORD=secret", "PLAIN=1"}
	if !slices.Equal(c.Env, wantEnv) {
		t.Errorf("env %q, want %q", c.Env, wantEnv)
	}
	if c.Memory != 64<<20 || c.NanoCPUs != 500_000_000 || c.User != "1000:100" || !c.ReadOnly ||
		!slices.Equal(c.CapAdd, []string{"NET_ADMIN"}) || !slices.Equal(c.CapDrop, []string{"MKNOD"}) {
		t.Errorf("limits and security: %+v", c)
	}
	if h := c.Health; h == nil || !slices.Equal(h.Test, []string{"HTTP", "http://127.0.0.1:80/healthz"}) || h.IntervalSecs != 5 || h.Retries != 3 || !h.RestartOnFail {
		t.Errorf("health: %+v", c.Health)
	}
	wantMounts := []plan.Mount{
		{Type: "files", Source: "conf", Destination: "/etc/cfg", ReadOnly: true},
		{Type: "volume", Source: "data", Destination: "/data"},
		{Type: "volume", Source: "web-pod-0-scratch", Destination: "/tmp/s", Ephemeral: true},
		{Type: "bind", Source: "/srv/host", Destination: "/host", ReadOnly: true},
		{Type: "files", Source: "secret", Destination: "/run/secret", ReadOnly: true, Secret: true},
	}
	if !slices.Equal(c.Mounts, wantMounts) {
		t.Errorf("mounts\n%+v, want\n%+v", c.Mounts, wantMounts)
	}
	if f := pod.Files["conf"]["conf/app.conf"]; string(f.Data) != "mode=fast\n" || f.Mode != 0o600 || len(pod.Files["conf"]) != 1 {
		t.Errorf("configMap files: %+v", pod.Files["conf"])
	}
	if s := pod.Files["secret"]; string(s["password"].Data) != "secret" || string(s["user"].Data) != "admin" {
		t.Errorf("secret files: %+v", s)
	}
	if !slices.Equal(p.Volumes, []string{"data"}) {
		t.Errorf("volumes: %v", p.Volumes)
	}
	for _, w := range []string{"kind Service is not supported", "lifecycle is not supported", "resources.requests are not enforced"} {
		if !slices.ContainsFunc(p.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("no warning %q in %q", w, p.Warnings)
		}
	}
	if len(p.Warnings) != 3 {
		t.Errorf("warnings of what is carried out: %q", p.Warnings)
	}
}

// TestPlayErrors: YAML that is not valid Kubernetes is refused with its
// document, line and field.
func TestPlayErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown field", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: busybox\n    imagee: x\n",
			`app.yaml: document 2, line 12, field spec.containers[0].imagee: unknown field "spec.containers[0].imagee"`},
		{"wrong type", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: busybox\n    ports:\n    - containerPort: eighty\n",
			"app.yaml: document 1, line 9, field spec.containers.ports.containerPort: cannot unmarshal string into field spec.containers.ports.containerPort of type int32"},
		{"no image", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n",
			`app.yaml: document 1, line 6, field spec.containers[0].image: container "a" has no image`},
		{"not kubernetes", "just: text\n", "app.yaml: document 1, line 1, field kind: not a Kubernetes object: it needs apiVersion and kind"},
		{"not yaml", "kind: [\n", "app.yaml: document 1: not YAML"},
		{"missing configmap", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: b\n    envFrom:\n    - configMapRef: {name: nope}\n",
			`field spec.containers[0].envFrom[0].configMapRef.name: no ConfigMap "nope"`},
		{"escaping item", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: b}]\n  volumes:\n  - name: v\n    configMap: {name: c, items: [{key: k, path: ../../etc/passwd}]}\n",
			`"../../etc/passwd" is not a path inside the volume`},
	} {
		_, err := playYAML(t, tc.yaml)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant %s", tc.name, err, tc.want)
		}
	}
}

// TestGenerate: what kube generate writes decodes strictly with the
// Kubernetes types and plays back to the same pod.
func TestGenerate(t *testing.T) {
	in := plan.Pod{Name: "web", Files: map[string]map[string]plan.File{
		"conf": {"sub/app.conf": {Data: []byte("level=3\n"), Mode: 0o600}}, "creds": {"password": {Data: []byte("s3cret"), Mode: 0o644}}}, Ports: []string{"127.0.0.1:30080:80/tcp"}, Restart: "always", Labels: map[string]string{"tier": "front"},
		Containers: []plan.Container{{Name: "srv", Image: "busybox", Entrypoint: []string{"httpd", "-f"}, Env: []string{"A=1"},
			Memory: 64 << 20, NanoCPUs: 250_000_000, User: "1000", CapAdd: []string{"NET_ADMIN"},
			Mounts: []plan.Mount{{Type: "bind", Source: "/srv/www", Destination: "/www", ReadOnly: true}, {Type: "volume", Source: "data", Destination: "/data"},
				{Type: "files", Source: "conf", Destination: "/etc/conf", ReadOnly: true}, {Type: "files", Source: "creds", Destination: "/run/creds", ReadOnly: true, Secret: true}},
			Health: &plan.Probe{Test: []string{"CMD", "true"}, IntervalSecs: 5, TimeoutSecs: 1, Retries: 3}}}}
	y, err := generate(&plan.GenerateRequest{Pods: []plan.Pod{in}, Type: "deployment", Service: true})
	if err != nil {
		t.Fatal(err)
	}
	docs, err := splitDocuments("gen", strings.NewReader(string(y)))
	if err != nil || len(docs) != 5 {
		t.Fatalf("%d documents, %v:\n%s", len(docs), err, y)
	}
	var claim corev1.PersistentVolumeClaim
	var cm corev1.ConfigMap
	var secret corev1.Secret
	var dep appsv1.Deployment
	var svc corev1.Service
	for i, v := range []any{&cm, &secret, &claim, &dep, &svc} {
		if err := docs[i].decode(v); err != nil {
			t.Fatalf("document %d: %v\n%s", i+1, err, y)
		}
	}
	if dep.Spec.Selector.MatchLabels["app"] != dep.Spec.Template.Labels["app"] || svc.Spec.Selector["app"] != "web" || svc.Spec.Ports[0].NodePort != 30080 {
		t.Errorf("selectors and ports:\n%s", y)
	}
	p, err := playYAML(t, string(y))
	if err != nil {
		t.Fatal(err)
	}
	got := p.Pods[0]
	c := got.Containers[0]
	if got.Name != "web-deployment-pod-0" || !slices.Equal(got.Ports, []string{"127.0.0.1:30080:80/tcp"}) || got.Restart != "always" ||
		!slices.Equal(c.Entrypoint, in.Containers[0].Entrypoint) || !slices.Equal(c.Env, []string{"A=1"}) || c.Memory != 64<<20 ||
		c.NanoCPUs != 250_000_000 || c.User != "1000" || !slices.Equal(c.CapAdd, []string{"NET_ADMIN"}) || len(c.Mounts) != 4 ||
		c.Mounts[0].Source != "/srv/www" || !c.Mounts[0].ReadOnly || c.Mounts[1].Source != "data" || c.Health == nil {
		t.Errorf("played back:\n%+v\nfrom\n%s", got, y)
	}
	if f := got.Files["conf"]["sub/app.conf"]; string(f.Data) != "level=3\n" || f.Mode != 0o600 || !c.Mounts[3].Secret ||
		string(got.Files["creds"]["password"].Data) != "s3cret" {
		t.Errorf("files played back: %+v, from\n%s", got.Files, y)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "kind Service") {
		t.Errorf("warnings: %q", p.Warnings)
	}
}

// TestPlayWarnsOfWhatItDropsNot: metadata and workload fields tug does
// not carry out are named, each once however many replicas.
func TestPlayWarnsOfWhatItDropsNot(t *testing.T) {
	p, err := playYAML(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: prod, annotations: {a: b}}
spec:
  replicas: 2
  revisionHistoryLimit: 3
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}, annotations: {c: d}}
    spec:
      nodeSelector: {disk: ssd}
      containers:
      - name: c
        image: busybox
        volumeMounts: [{name: v, mountPath: /v, mountPropagation: HostToContainer}]
        livenessProbe: {exec: {command: ["true"]}, successThreshold: 1}
      volumes: [{name: v, emptyDir: {}}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  backoffLimit: 2
  template:
    spec:
      containers: [{name: c, image: busybox}]
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Deployment d: metadata.annotations is not supported: ignored", "Deployment d: metadata.namespace is not supported: ignored",
		"Deployment d: spec.template.metadata.annotations is not supported: ignored", "Deployment d: spec.revisionHistoryLimit is not supported: ignored",
		"Deployment d: spec.nodeSelector is not supported: ignored", "Job j: spec.backoffLimit is not supported: ignored",
		"Deployment d: container c: volumeMounts.mountPropagation is not supported: ignored",
		"Deployment d: container c: probe.successThreshold is not supported: ignored",
	}
	for _, w := range want {
		if n := len(slices.DeleteFunc(slices.Clone(p.Warnings), func(s string) bool { return s != w })); n != 1 {
			t.Errorf("warning %q: %d times in %q", w, n, p.Warnings)
		}
	}
}
