package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"tug/kube/plan"
)

// generate writes the pods of req as YAML documents a cluster accepts:
// Pods or Deployments, PersistentVolumeClaims for named volumes, and
// with req.Service a NodePort Service for each pod that publishes.
func generate(req *plan.GenerateRequest) ([]byte, error) {
	var objs []any
	claims := map[string]bool{}
	for _, p := range req.Pods {
		spec, err := podSpec(p)
		if err != nil {
			return nil, err
		}
		objs = append(objs, fileObjects(p, spec)...)
		for _, v := range spec.Volumes {
			if c := v.PersistentVolumeClaim; c != nil && !claims[c.ClaimName] {
				claims[c.ClaimName] = true
				objs = append(objs, claim(c.ClaimName))
			}
		}
		labels := map[string]string{"app": p.Name}
		for k, v := range p.Labels {
			labels[k] = v
		}
		selector := map[string]string{"app": labels["app"]} // what the template's labels match
		meta := metav1.ObjectMeta{Name: p.Name, Labels: labels}
		switch req.Type {
		case "", "pod":
			objs = append(objs, &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: meta, Spec: spec})
		case "deployment":
			replicas := int32(1)
			spec.RestartPolicy = corev1.RestartPolicyAlways // the only one a Deployment takes
			objs = append(objs, &appsv1.Deployment{
				TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
				ObjectMeta: metav1.ObjectMeta{Name: p.Name + "-deployment", Labels: labels},
				Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: selector},
					Template: corev1.PodTemplateSpec{ObjectMeta: meta, Spec: spec}},
			})
		default:
			return nil, fmt.Errorf("--type %q: want pod or deployment", req.Type)
		}
		if svc := service(p, spec, selector); req.Service && svc != nil {
			objs = append(objs, svc)
		}
	}
	var out bytes.Buffer
	for i, o := range objs {
		b, err := cleanYAML(o)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(b)
	}
	return out.Bytes(), nil
}

// cleanYAML is o as YAML without what only the API server fills in (a
// null creationTimestamp, an empty status), so that the YAML is what a
// person would write.
func cleanYAML(o any) ([]byte, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	prune(m)
	return yaml.Marshal(m)
}

// prune drops null creationTimestamps, empty status and resources
// objects, recursively.
func prune(m map[string]any) {
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			prune(v)
			if len(v) == 0 && (k == "status" || k == "resources" || k == "metadata" || k == "strategy" || k == "securityContext") {
				delete(m, k)
			}
		case []any:
			for _, e := range v {
				if em, ok := e.(map[string]any); ok {
					prune(em)
				}
			}
		}
	}
}

// podSpec is a tug pod's spec: its containers, and its binds and named
// volumes as hostPath volumes and claims.
func podSpec(p plan.Pod) (corev1.PodSpec, error) {
	spec := corev1.PodSpec{Hostname: p.Hostname, HostNetwork: p.HostNetwork}
	switch p.Restart {
	case "always", "unless-stopped":
		spec.RestartPolicy = corev1.RestartPolicyAlways
	case "on-failure":
		spec.RestartPolicy = corev1.RestartPolicyOnFailure
	default:
		spec.RestartPolicy = corev1.RestartPolicyNever
	}
	if p.ShareProcess {
		share := true
		spec.ShareProcessNamespace = &share
	}
	vols := map[string]string{} // source → volume name
	ports := portsByContainer(p)
	for i, c := range p.Containers {
		ctr, err := container(c, p.Name, vols, &spec)
		if err != nil {
			return spec, err
		}
		if i == 0 {
			ctr.Ports = ports
		}
		spec.Containers = append(spec.Containers, ctr)
	}
	return spec, nil
}

// portsByContainer are the pod's published ports, as container ports
// with a hostPort (on the pod's first container: they are the pod's).
func portsByContainer(p plan.Pod) []corev1.ContainerPort {
	var out []corev1.ContainerPort
	for _, spec := range p.Ports {
		// [IP:]HOSTPORT:CONTAINERPORT/PROTO
		rest, proto, _ := strings.Cut(spec, "/")
		parts := strings.Split(rest, ":")
		if len(parts) < 2 {
			continue
		}
		hostPort, _ := strconv.Atoi(parts[len(parts)-2])
		ctrPort, _ := strconv.Atoi(parts[len(parts)-1])
		cp := corev1.ContainerPort{ContainerPort: int32(ctrPort), HostPort: int32(hostPort), Protocol: corev1.Protocol(strings.ToUpper(proto))}
		if len(parts) == 3 && parts[0] != "" && parts[0] != "0.0.0.0" {
			cp.HostIP = parts[0]
		}
		if cp.Protocol == "" {
			cp.Protocol = corev1.ProtocolTCP
		}
		out = append(out, cp)
	}
	return out
}

// container is one container, its mounts added to spec's volumes.
func container(c plan.Container, pod string, vols map[string]string, spec *corev1.PodSpec) (corev1.Container, error) {
	ctr := corev1.Container{Name: c.Name, Image: c.Image, Command: c.Entrypoint, Args: c.Cmd, WorkingDir: c.WorkingDir, Stdin: c.Stdin, TTY: c.Tty}
	for _, e := range c.Env {
		k, v, _ := strings.Cut(e, "=")
		ctr.Env = append(ctr.Env, corev1.EnvVar{Name: k, Value: v})
	}
	limits := corev1.ResourceList{}
	if c.Memory > 0 {
		limits[corev1.ResourceMemory] = *resource.NewQuantity(c.Memory, resource.BinarySI)
	}
	if c.NanoCPUs > 0 {
		limits[corev1.ResourceCPU] = *resource.NewMilliQuantity(c.NanoCPUs/1_000_000, resource.DecimalSI)
	}
	if len(limits) > 0 {
		ctr.Resources.Limits = limits
	}
	sc, err := securityContext(c)
	if err != nil {
		return ctr, err
	}
	ctr.SecurityContext = sc
	for _, m := range c.Mounts {
		name, ok := vols[m.Type+":"+m.Source]
		if !ok {
			name = volumeName(m, len(vols))
			vols[m.Type+":"+m.Source] = name
			spec.Volumes = append(spec.Volumes, volume(name, m, pod))
		}
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: m.Destination, ReadOnly: m.ReadOnly})
	}
	if h := c.Health; h != nil && len(h.Test) > 1 && h.Test[0] == "CMD" {
		ctr.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: h.Test[1:]}},
			PeriodSeconds: int32(h.IntervalSecs), TimeoutSeconds: int32(h.TimeoutSecs), FailureThreshold: int32(h.Retries), InitialDelaySeconds: int32(h.StartSecs)}
	}
	return ctr, nil
}

// volumeName is a DNS label for the volume of m: a claim's own name, or
// one after the host path's last element.
func volumeName(m plan.Mount, n int) string {
	if m.Type == "volume" || m.Type == "files" {
		return dnsLabel(m.Source)
	}
	base := m.Source[strings.LastIndexByte(m.Source, '/')+1:]
	return dnsLabel(fmt.Sprintf("%s-host-%d", cmpOr(base, "root"), n))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// dnsLabel makes s a name a volume may have: lower case, [a-z0-9-],
// 63 at most, starting and ending with a letter or digit.
func dnsLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 63 {
		out = strings.Trim(out[:63], "-")
	}
	return cmpOr(out, "vol")
}

func volume(name string, m plan.Mount, pod string) corev1.Volume {
	switch m.Type {
	case "files":
		obj := filesObject(pod, m.Source)
		if m.Secret {
			return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: obj}}}
		}
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: obj}}}}
	case "volume":
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: m.Source}}}
	}
	t := corev1.HostPathDirectory
	if m.Create {
		t = corev1.HostPathDirectoryOrCreate
	}
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: m.Source, Type: &t}}}
}

func securityContext(c plan.Container) (*corev1.SecurityContext, error) {
	sc := &corev1.SecurityContext{}
	set := false
	if c.Privileged {
		sc.Privileged, set = &c.Privileged, true
	}
	if c.ReadOnly {
		sc.ReadOnlyRootFilesystem, set = &c.ReadOnly, true
	}
	if len(c.CapAdd)+len(c.CapDrop) > 0 {
		sc.Capabilities, set = &corev1.Capabilities{}, true
		for _, cp := range c.CapAdd {
			sc.Capabilities.Add = append(sc.Capabilities.Add, corev1.Capability(cp))
		}
		for _, cp := range c.CapDrop {
			sc.Capabilities.Drop = append(sc.Capabilities.Drop, corev1.Capability(cp))
		}
	}
	if c.User != "" {
		u, g, hasGroup := strings.Cut(c.User, ":")
		uid, err := strconv.ParseInt(u, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("container %s: user %q: Kubernetes takes a user by number (runAsUser)", c.Name, c.User)
		}
		sc.RunAsUser, set = &uid, true
		if hasGroup {
			gid, err := strconv.ParseInt(g, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("container %s: group %q: Kubernetes takes a group by number (runAsGroup)", c.Name, g)
			}
			sc.RunAsGroup = &gid
		}
	}
	if !set {
		return nil, nil
	}
	return sc, nil
}

// claim is a PersistentVolumeClaim of a named volume.
func claim(name string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
}

// service is a NodePort Service for the pod's published ports (a host
// port in the cluster's NodePort range keeps its number), or nil.
func service(p plan.Pod, spec corev1.PodSpec, selector map[string]string) *corev1.Service {
	var ports []corev1.ServicePort
	for _, cp := range spec.Containers[0].Ports {
		sp := corev1.ServicePort{Name: strings.ToLower(fmt.Sprintf("%d-%s", cp.ContainerPort, cp.Protocol)), Protocol: cp.Protocol,
			Port: cp.ContainerPort, TargetPort: intstr.FromInt32(cp.ContainerPort)}
		if cp.HostPort >= 30000 && cp.HostPort <= 32767 {
			sp.NodePort = cp.HostPort
		}
		ports = append(ports, sp)
	}
	if len(ports) == 0 {
		return nil
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: p.Name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: selector, Ports: ports},
	}
}

// filesObject names the ConfigMap or Secret of a pod's files volume.
func filesObject(pod, vol string) string { return dnsLabel(pod + "-" + vol) }

// fileObjects are the ConfigMaps and Secrets of the pod's files
// volumes, whose items put each file back at its path, with its mode.
func fileObjects(p plan.Pod, spec corev1.PodSpec) []any {
	var out []any
	for i := range spec.Volumes {
		v := &spec.Volumes[i]
		var vol string
		var items *[]corev1.KeyToPath
		switch {
		case v.ConfigMap != nil:
			vol, items = v.Name, &v.ConfigMap.Items
		case v.Secret != nil:
			vol, items = v.Name, &v.Secret.Items
		default:
			continue
		}
		files := p.Files[volSource(p, vol)]
		data := map[string][]byte{}
		for _, path := range slices.Sorted(maps.Keys(files)) {
			f := files[path]
			key := strings.NewReplacer("/", ".").Replace(path)
			data[key] = f.Data
			mode := int32(f.Mode)
			*items = append(*items, corev1.KeyToPath{Key: key, Path: path, Mode: &mode})
		}
		meta := metav1.ObjectMeta{Name: filesObject(p.Name, volSource(p, vol))}
		if v.Secret != nil {
			out = append(out, &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: meta, Data: data})
			continue
		}
		strData := map[string]string{}
		for k, b := range data {
			strData[k] = string(b)
		}
		out = append(out, &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: meta, Data: strData})
	}
	return out
}

// volSource is the files volume whose Kubernetes volume is named vol.
func volSource(p plan.Pod, vol string) string {
	for _, c := range p.Containers {
		for _, m := range c.Mounts {
			if m.Type == "files" && dnsLabel(m.Source) == vol {
				return m.Source
			}
		}
	}
	return vol
}
