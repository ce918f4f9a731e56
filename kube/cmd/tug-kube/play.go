package main

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"tug/kube/plan"
)

// player turns Kubernetes objects into a plan.
type player struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	out        plan.Plan
	down       bool // for kube down, which needs names, not what a ConfigMap holds
}

// optional tells whether a ConfigMap or Secret that is not there may be
// passed over: the YAML says so, or the plan is kube down's.
func (p *player) optional(yes *bool) bool { return p.down || yes != nil && *yes }

// play reads every document of the request and returns the plan.
func play(req *plan.PlayRequest) (*plan.Plan, error) {
	p := &player{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, down: req.Down}
	var workloads []document
	for _, sources := range [][]plan.Source{req.ConfigMaps, req.Files} {
		for _, src := range sources {
			docs, err := splitDocuments(src.Name, strings.NewReader(string(src.Data)))
			if err != nil {
				return nil, err
			}
			for _, d := range docs {
				w, err := p.collect(d)
				if err != nil {
					return nil, err
				}
				if w {
					workloads = append(workloads, d)
				}
			}
		}
	}
	for _, d := range workloads {
		if err := p.workload(d); err != nil {
			return nil, err
		}
	}
	return &p.out, nil
}

// collect decodes a document whose objects others refer to (ConfigMap,
// Secret, PersistentVolumeClaim); it tells whether d is a workload, left
// for the second pass, and warns of any other kind.
func (p *player) collect(d document) (workload bool, err error) {
	_, kind, err := d.kindOf()
	if err != nil {
		return false, err
	}
	switch kind {
	case "Pod", "Deployment", "DaemonSet", "Job":
		return true, nil
	case "ConfigMap":
		var cm corev1.ConfigMap
		if err := d.decode(&cm); err != nil {
			return false, err
		}
		p.configMaps[cm.Name] = &cm
	case "Secret":
		var s corev1.Secret
		if err := d.decode(&s); err != nil {
			return false, err
		}
		p.secrets[s.Name] = &s
	case "PersistentVolumeClaim":
		var pvc corev1.PersistentVolumeClaim
		if err := d.decode(&pvc); err != nil {
			return false, err
		}
		p.volume(pvc.Name)
	default:
		p.warn("%s: document %d: kind %s is not supported: skipped", d.file, d.index, kind)
	}
	return false, nil
}

// warn adds a warning, once however many replicas repeat it.
func (p *player) warn(format string, args ...any) {
	if w := fmt.Sprintf(format, args...); !slices.Contains(p.out.Warnings, w) {
		p.out.Warnings = append(p.out.Warnings, w)
	}
}

func (p *player) volume(name string) {
	if !slices.Contains(p.out.Volumes, name) {
		p.out.Volumes = append(p.out.Volumes, name)
	}
}

// workload turns a Pod, Deployment, DaemonSet or Job into pods.
func (p *player) workload(d document) error {
	_, kind, _ := d.kindOf()
	var meta metav1.ObjectMeta
	var spec corev1.PodSpec
	var names []string
	switch kind {
	case "Pod":
		var o corev1.Pod
		if err := d.decode(&o); err != nil {
			return err
		}
		meta, spec, names = o.ObjectMeta, o.Spec, []string{o.Name}
		p.warnFields(kind, o.Name, "metadata", o.ObjectMeta, metaFields)
	case "Deployment":
		var o appsv1.Deployment
		if err := d.decode(&o); err != nil {
			return err
		}
		replicas := 1
		if o.Spec.Replicas != nil {
			replicas = int(*o.Spec.Replicas)
		}
		for i := range replicas {
			names = append(names, fmt.Sprintf("%s-pod-%d", o.Name, i))
		}
		meta, spec = templateMeta(o.Spec.Template.ObjectMeta, o.ObjectMeta), o.Spec.Template.Spec
		p.warnOwner(kind, o.ObjectMeta, o.Spec.Template.ObjectMeta, o.Spec, "replicas", "selector", "template", "strategy")
	case "DaemonSet":
		var o appsv1.DaemonSet
		if err := d.decode(&o); err != nil {
			return err
		}
		meta, spec, names = templateMeta(o.Spec.Template.ObjectMeta, o.ObjectMeta), o.Spec.Template.Spec, []string{o.Name + "-pod"}
		p.warnOwner(kind, o.ObjectMeta, o.Spec.Template.ObjectMeta, o.Spec, "selector", "template")
	case "Job":
		var o batchv1.Job
		if err := d.decode(&o); err != nil {
			return err
		}
		meta, spec, names = templateMeta(o.Spec.Template.ObjectMeta, o.ObjectMeta), o.Spec.Template.Spec, []string{o.Name + "-pod"}
		p.warnOwner(kind, o.ObjectMeta, o.Spec.Template.ObjectMeta, o.Spec, "selector", "template")
		if spec.RestartPolicy == "" {
			spec.RestartPolicy = corev1.RestartPolicyNever
		}
	}
	owner := meta.Name
	for _, name := range names {
		pod, err := p.pod(d, kind, name, meta, spec)
		if err != nil {
			return err
		}
		pod.Owner = owner
		p.out.Pods = append(p.out.Pods, *pod)
	}
	return nil
}

// metaFields are the metadata tug carries out: a pod's name and labels.
var metaFields = []string{"name", "labels"}

// warnFields names in a warning each field of v (at where) set beyond
// known.
func (p *player) warnFields(kind, name, where string, v any, known []string) {
	for _, f := range unsupported(v, known) {
		p.warn("%s %s: %s.%s is not supported: ignored", kind, name, where, f)
	}
}

// warnOwner warns of what a Deployment, DaemonSet or Job sets that tug
// does not carry out: in its metadata, its template's and its spec
// (beyond the fields named).
func (p *player) warnOwner(kind string, meta, tmpl metav1.ObjectMeta, spec any, known ...string) {
	p.warnFields(kind, meta.Name, "metadata", meta, metaFields)
	p.warnFields(kind, meta.Name, "spec.template.metadata", tmpl, metaFields)
	p.warnFields(kind, meta.Name, "spec", spec, known)
}

// templateMeta is a pod template's metadata, named after its owner.
func templateMeta(tmpl, owner metav1.ObjectMeta) metav1.ObjectMeta {
	tmpl.Name = owner.Name
	if len(tmpl.Labels) == 0 {
		tmpl.Labels = owner.Labels
	}
	return tmpl
}

// podFields, containerFields and volumeFields are the fields tug
// carries out; any other that is set is named in a warning.
var (
	podFields = []string{"containers", "initContainers", "volumes", "restartPolicy", "hostname", "hostNetwork",
		"shareProcessNamespace", "securityContext", "terminationGracePeriodSeconds", "dnsPolicy", "schedulerName",
		"serviceAccountName", "serviceAccount", "enableServiceLinks"}
	containerFields = []string{"name", "image", "command", "args", "env", "envFrom", "workingDir", "ports",
		"volumeMounts", "resources", "securityContext", "livenessProbe", "readinessProbe", "imagePullPolicy",
		"stdin", "tty", "terminationMessagePath", "terminationMessagePolicy"}
)

// unsupported names the fields set in v (as JSON) beyond those known.
func unsupported(v any, known []string) []string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	if yaml.Unmarshal(b, &m) != nil {
		return nil
	}
	var out []string
	for k := range m {
		if !slices.Contains(known, k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// pod is one pod of a workload.
func (p *player) pod(d document, kind, name string, meta metav1.ObjectMeta, spec corev1.PodSpec) (*plan.Pod, error) {
	for _, f := range unsupported(spec, podFields) {
		p.warn("%s %s: spec.%s is not supported: ignored", kind, meta.Name, f)
	}
	out := &plan.Pod{Name: name, Labels: meta.Labels, Hostname: spec.Hostname, Kind: kind,
		ShareProcess: spec.ShareProcessNamespace != nil && *spec.ShareProcessNamespace, HostNetwork: spec.HostNetwork}
	switch spec.RestartPolicy {
	case "", corev1.RestartPolicyAlways:
		out.Restart = "always"
	case corev1.RestartPolicyOnFailure:
		out.Restart = "on-failure"
	case corev1.RestartPolicyNever:
		out.Restart = "no"
	}
	vols, err := p.volumes(d, out, spec.Volumes)
	if err != nil {
		return nil, err
	}
	for i, c := range spec.InitContainers {
		ctr, err := p.container(d, fmt.Sprintf("spec.initContainers[%d]", i), kind, meta.Name, c, spec.SecurityContext, vols, out)
		if err != nil {
			return nil, err
		}
		out.Init = append(out.Init, *ctr)
	}
	for i, c := range spec.Containers {
		ctr, err := p.container(d, fmt.Sprintf("spec.containers[%d]", i), kind, meta.Name, c, spec.SecurityContext, vols, out)
		if err != nil {
			return nil, err
		}
		out.Containers = append(out.Containers, *ctr)
	}
	if len(out.Containers) == 0 {
		return nil, d.errorf("spec.containers", "a pod needs at least one container")
	}
	return out, nil
}

// volumes resolves the pod's volumes to mount sources: hostPath binds,
// named volumes of claims, a named volume per pod for an emptyDir, and
// files for configMap and secret volumes (pod.Files).
func (p *player) volumes(d document, pod *plan.Pod, vols []corev1.Volume) (map[string]plan.Mount, error) {
	out := map[string]plan.Mount{}
	for i, v := range vols {
		field := fmt.Sprintf("spec.volumes[%d]", i)
		switch src := v.VolumeSource; {
		case src.HostPath != nil:
			t := corev1.HostPathUnset
			if src.HostPath.Type != nil {
				t = *src.HostPath.Type
			}
			out[v.Name] = plan.Mount{Type: "bind", Source: src.HostPath.Path, Create: t == corev1.HostPathDirectoryOrCreate || t == corev1.HostPathUnset}
		case src.EmptyDir != nil:
			out[v.Name] = plan.Mount{Type: "volume", Source: pod.Name + "-" + v.Name, Ephemeral: true}
		case src.PersistentVolumeClaim != nil:
			p.volume(src.PersistentVolumeClaim.ClaimName)
			out[v.Name] = plan.Mount{Type: "volume", Source: src.PersistentVolumeClaim.ClaimName, ReadOnly: src.PersistentVolumeClaim.ReadOnly}
		case src.ConfigMap != nil:
			files, err := p.configMapFiles(d, field, src.ConfigMap)
			if err != nil {
				return nil, err
			}
			p.files(pod, v.Name, files)
			out[v.Name] = plan.Mount{Type: "files", Source: v.Name, ReadOnly: true}
		case src.Secret != nil:
			files, err := p.secretFiles(d, field, src.Secret)
			if err != nil {
				return nil, err
			}
			p.files(pod, v.Name, files)
			out[v.Name] = plan.Mount{Type: "files", Source: v.Name, ReadOnly: true, Secret: true}
		default:
			p.warn("%s: volume %s: its type is not supported: not mounted", d.file, v.Name)
		}
	}
	return out, nil
}

func (p *player) files(pod *plan.Pod, vol string, files map[string]plan.File) {
	if pod.Files == nil {
		pod.Files = map[string]map[string]plan.File{}
	}
	pod.Files[vol] = files
}

// configMapFiles are a configMap volume's files: every key, or the
// items named, with their modes.
func (p *player) configMapFiles(d document, field string, src *corev1.ConfigMapVolumeSource) (map[string]plan.File, error) {
	cm, ok := p.configMaps[src.Name]
	if !ok {
		if p.optional(src.Optional) {
			return map[string]plan.File{}, nil
		}
		return nil, d.errorf(field+".configMap.name", "no ConfigMap %q in the YAML or --configmap", src.Name)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	maps.Copy(data, cm.BinaryData)
	return keyFiles(d, field+".configMap", data, src.Items, src.DefaultMode)
}

// secretFiles are a secret volume's files, as configMapFiles.
func (p *player) secretFiles(d document, field string, src *corev1.SecretVolumeSource) (map[string]plan.File, error) {
	s, ok := p.secrets[src.SecretName]
	if !ok {
		if p.optional(src.Optional) {
			return map[string]plan.File{}, nil
		}
		return nil, d.errorf(field+".secret.secretName", "no Secret %q in the YAML", src.SecretName)
	}
	return keyFiles(d, field+".secret", secretData(s), src.Items, src.DefaultMode)
}

// secretData is a secret's data, stringData's over it, as the API
// server merges them.
func secretData(s *corev1.Secret) map[string][]byte {
	data := map[string][]byte{}
	maps.Copy(data, s.Data)
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return data
}

// keyFiles maps keys to files: every key under its own name, or only
// the items, each at its path (which must stay inside the volume).
func keyFiles(d document, field string, data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32) (map[string]plan.File, error) {
	mode := uint32(0o644)
	if defaultMode != nil {
		mode = uint32(*defaultMode)
	}
	out := map[string]plan.File{}
	if len(items) == 0 {
		for k, v := range data {
			out[k] = plan.File{Data: v, Mode: mode}
		}
		return out, nil
	}
	for i, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return nil, d.errorf(fmt.Sprintf("%s.items[%d].key", field, i), "no key %q", it.Key)
		}
		clean := path.Clean(it.Path)
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") || clean == "." {
			return nil, d.errorf(fmt.Sprintf("%s.items[%d].path", field, i), "%q is not a path inside the volume", it.Path)
		}
		m := mode
		if it.Mode != nil {
			m = uint32(*it.Mode)
		}
		out[clean] = plan.File{Data: v, Mode: m}
	}
	return out, nil
}

// container is one container of a pod; field is its place in the
// document, for errors.
func (p *player) container(d document, field, kind, owner string, c corev1.Container, podSec *corev1.PodSecurityContext, vols map[string]plan.Mount, pod *plan.Pod) (*plan.Container, error) {
	for _, f := range unsupported(c, containerFields) {
		p.warn("%s %s: container %s: %s is not supported: ignored", kind, owner, c.Name, f)
	}
	if c.Image == "" {
		return nil, d.errorf(field+".image", "container %q has no image", c.Name)
	}
	out := &plan.Container{Name: c.Name, Image: c.Image, Entrypoint: c.Command, Cmd: c.Args, WorkingDir: c.WorkingDir,
		Pull: pullPolicy(c), Stdin: c.Stdin, Tty: c.TTY}
	env, err := p.env(d, field, c)
	if err != nil {
		return nil, err
	}
	out.Env = env
	for i, port := range c.Ports {
		if port.HostPort == 0 {
			continue
		}
		spec := fmt.Sprintf("%d:%d/%s", port.HostPort, port.ContainerPort, strings.ToLower(string(cmpProto(port.Protocol))))
		if port.HostIP != "" {
			spec = port.HostIP + ":" + spec
		}
		if port.ContainerPort == 0 {
			return nil, d.errorf(fmt.Sprintf("%s.ports[%d].containerPort", field, i), "a hostPort needs its containerPort")
		}
		pod.Ports = append(pod.Ports, spec)
	}
	for i, vm := range c.VolumeMounts {
		m, ok := vols[vm.Name]
		if !ok {
			return nil, d.errorf(fmt.Sprintf("%s.volumeMounts[%d].name", field, i), "no volume %q in the pod", vm.Name)
		}
		p.warnFields(kind, owner, "container "+c.Name+": volumeMounts", vm, []string{"name", "mountPath", "readOnly", "subPath", "subPathExpr"})
		if vm.SubPath != "" || vm.SubPathExpr != "" {
			p.warn("%s %s: container %s: volumeMounts subPath is not supported: the whole volume is mounted", kind, owner, c.Name)
		}
		m.Destination, m.ReadOnly = vm.MountPath, m.ReadOnly || vm.ReadOnly
		out.Mounts = append(out.Mounts, m)
	}
	p.resources(kind, owner, c, out)
	p.security(kind, owner, c, podSec, out)
	probe := c.LivenessProbe
	if probe == nil {
		probe = c.ReadinessProbe
	} else if c.ReadinessProbe != nil {
		p.warn("%s %s: container %s: readinessProbe beside livenessProbe: only the liveness one runs", kind, owner, c.Name)
	}
	if probe != nil {
		p.warnFields(kind, owner, "container "+c.Name+": probe", probe, []string{"exec", "tcpSocket", "httpGet", "periodSeconds", "timeoutSeconds", "failureThreshold", "initialDelaySeconds"})
		if probe.HTTPGet != nil {
			p.warnFields(kind, owner, "container "+c.Name+": probe httpGet", probe.HTTPGet, []string{"path", "port", "host", "scheme"})
		}
		h, err := healthOf(d, field, probe, c.Ports)
		if err != nil {
			return nil, err
		}
		h.RestartOnFail = probe == c.LivenessProbe
		out.Health = h
	}
	return out, nil
}

func cmpProto(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// pullPolicy is imagePullPolicy in tug's words. Unset, it is missing,
// as in podman: an image here is used as it is, whatever its tag (the
// API server would say Always for :latest).
func pullPolicy(c corev1.Container) string {
	switch c.ImagePullPolicy {
	case corev1.PullAlways:
		return "always"
	case corev1.PullNever:
		return "never"
	}
	return "missing"
}

// env resolves env and envFrom to K=V, envFrom first, as the kubelet
// orders them.
func (p *player) env(d document, field string, c corev1.Container) ([]string, error) {
	var out []string
	for i, from := range c.EnvFrom {
		var data map[string][]byte
		switch {
		case from.ConfigMapRef != nil:
			cm, ok := p.configMaps[from.ConfigMapRef.Name]
			if !ok && !p.optional(from.ConfigMapRef.Optional) {
				return nil, d.errorf(fmt.Sprintf("%s.envFrom[%d].configMapRef.name", field, i), "no ConfigMap %q in the YAML or --configmap", from.ConfigMapRef.Name)
			}
			if ok {
				data = map[string][]byte{}
				for k, v := range cm.Data {
					data[k] = []byte(v)
				}
			}
		case from.SecretRef != nil:
			s, ok := p.secrets[from.SecretRef.Name]
			if !ok && !p.optional(from.SecretRef.Optional) {
				return nil, d.errorf(fmt.Sprintf("%s.envFrom[%d].secretRef.name", field, i), "no Secret %q in the YAML", from.SecretRef.Name)
			}
			if ok {
				data = secretData(s)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(data)) {
			out = append(out, from.Prefix+k+"="+string(data[k]))
		}
	}
	for i, e := range c.Env {
		v, err := p.envValue(d, fmt.Sprintf("%s.env[%d]", field, i), e)
		if err != nil {
			return nil, err
		}
		out = append(out, e.Name+"="+v)
	}
	return out, nil
}

// envValue is one env entry's value: its own, or a ConfigMap's or
// Secret's key.
func (p *player) envValue(d document, field string, e corev1.EnvVar) (string, error) {
	from := e.ValueFrom
	switch {
	case from == nil:
		return e.Value, nil
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		if cm, ok := p.configMaps[ref.Name]; ok {
			if v, ok := cm.Data[ref.Key]; ok {
				return v, nil
			}
		}
		if p.optional(ref.Optional) {
			return "", nil
		}
		return "", d.errorf(field+".valueFrom.configMapKeyRef", "no key %q in ConfigMap %q", ref.Key, ref.Name)
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		if s, ok := p.secrets[ref.Name]; ok {
			if v, ok := secretData(s)[ref.Key]; ok {
				return string(v), nil
			}
		}
		if p.optional(ref.Optional) {
			return "", nil
		}
		return "", d.errorf(field+".valueFrom.secretKeyRef", "no key %q in Secret %q", ref.Key, ref.Name)
	}
	return "", d.errorf(field+".valueFrom", "only configMapKeyRef and secretKeyRef are supported")
}

// resources maps limits to tug's; requests are not enforced.
func (p *player) resources(kind, owner string, c corev1.Container, out *plan.Container) {
	if m, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		out.Memory = m.Value()
	}
	if cpu, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		out.NanoCPUs = cpu.MilliValue() * 1_000_000
	}
	for name := range c.Resources.Limits {
		if name != corev1.ResourceMemory && name != corev1.ResourceCPU {
			p.warn("%s %s: container %s: resources.limits.%s is not supported: ignored", kind, owner, c.Name, name)
		}
	}
	if len(c.Resources.Requests) > 0 {
		p.warn("%s %s: container %s: resources.requests are not enforced (limits are)", kind, owner, c.Name)
	}
}

// security maps the container's securityContext (over the pod's user
// and group) to tug's flags.
func (p *player) security(kind, owner string, c corev1.Container, podSec *corev1.PodSecurityContext, out *plan.Container) {
	var uid, gid *int64
	if podSec != nil {
		uid, gid = podSec.RunAsUser, podSec.RunAsGroup
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
		out.Privileged = sc.Privileged != nil && *sc.Privileged
		out.ReadOnly = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
		if caps := sc.Capabilities; caps != nil {
			for _, c := range caps.Add {
				out.CapAdd = append(out.CapAdd, string(c))
			}
			for _, c := range caps.Drop {
				out.CapDrop = append(out.CapDrop, string(c))
			}
		}
		for _, f := range unsupported(sc, []string{"runAsUser", "runAsGroup", "privileged", "readOnlyRootFilesystem", "capabilities", "allowPrivilegeEscalation"}) {
			p.warn("%s %s: container %s: securityContext.%s is not supported: ignored", kind, owner, c.Name, f)
		}
	}
	switch {
	case uid != nil && gid != nil:
		out.User = fmt.Sprintf("%d:%d", *uid, *gid)
	case uid != nil:
		out.User = strconv.FormatInt(*uid, 10)
	}
}

// healthOf turns a probe into a healthcheck: an exec probe's command,
// or tug's TCP and HTTP checks, which the monitor makes from the pod's
// network namespace (the image may have no wget).
func healthOf(d document, field string, pr *corev1.Probe, ports []corev1.ContainerPort) (*plan.Probe, error) {
	h := &plan.Probe{IntervalSecs: int(pr.PeriodSeconds), TimeoutSecs: int(pr.TimeoutSeconds), StartSecs: int(pr.InitialDelaySeconds), Retries: int(pr.FailureThreshold)}
	if h.IntervalSecs == 0 {
		h.IntervalSecs = 10
	}
	if h.TimeoutSecs == 0 {
		h.TimeoutSecs = 1
	}
	if h.Retries == 0 {
		h.Retries = 3
	}
	switch {
	case pr.Exec != nil:
		h.Test = append([]string{"CMD"}, pr.Exec.Command...)
	case pr.TCPSocket != nil:
		h.Test = []string{"TCP", hostPort(pr.TCPSocket.Host, portOf(pr.TCPSocket.Port, ports))}
	case pr.HTTPGet != nil:
		scheme := strings.ToLower(string(pr.HTTPGet.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		h.Test = []string{"HTTP", scheme + "://" + hostPort(pr.HTTPGet.Host, portOf(pr.HTTPGet.Port, ports)) + "/" + strings.TrimPrefix(pr.HTTPGet.Path, "/")}
	default:
		return nil, d.errorf(field, "a probe needs exec, tcpSocket or httpGet")
	}
	return h, nil
}

// portOf is a probe's port: a number, or the name of one of the
// container's ports.
func portOf(port intstr.IntOrString, ports []corev1.ContainerPort) string {
	if port.Type == intstr.String {
		for _, p := range ports {
			if p.Name == port.StrVal {
				return strconv.Itoa(int(p.ContainerPort))
			}
		}
	}
	return port.String()
}

func hostPort(host, port string) string {
	if host == "" {
		host = "127.0.0.1"
	}
	return host + ":" + port
}
