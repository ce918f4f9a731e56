package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/moby/moby/api/types/jsonstream"

	"tug/build"
	"tug/pull"
	"tug/store"
)

// buildImage is POST /build, docker's classic builder: the body is the
// context as a tar (compressed or not), the query the options; tug
// build builds it. Its output goes out as docker's stream of JSON
// messages, the image's ID as the last message's aux, as docker sends
// it; a failure is the stream's last message.
func (srv *server) buildImage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var tags []string
	for _, t := range q["t"] {
		n, err := store.NormalizeName(t)
		if err != nil {
			writeError(w, badRequest(fmt.Errorf("t %s: %w", t, err)))
			return
		}
		tags = append(tags, n)
	}
	args, labels := map[string]string{}, map[string]string{}
	for k, m := range map[string]map[string]string{"buildargs": args, "labels": labels} {
		if v := q.Get(k); v != "" {
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				writeError(w, badRequest(fmt.Errorf("%s: %w", k, err)))
				return
			}
		}
	}
	policy := pull.PullMissing
	if boolParam(q.Get("pull")) {
		policy = pull.PullAlways
	}
	dir, done, err := build.StdinContext(srv.Store, r.Body)
	if err != nil {
		writeError(w, badRequest(err))
		return
	}
	defer done()
	name := q.Get("dockerfile")
	if name == "" {
		name = "Dockerfile"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	out := &messages{w: w, rc: http.NewResponseController(w)}
	pr, pw, err := os.Pipe()
	if err != nil {
		out.send(jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}})
		return
	}
	quiet := boolParam(q.Get("q"))
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if !quiet {
				out.send(jsonstream.Message{Stream: sc.Text() + "\n"})
			}
		}
		pr.Close()
	}()
	network := q.Get("networkmode")
	if network == "default" {
		network = ""
	}
	opt := build.Options{
		Context: dir, Dockerfile: filepath.Join(dir, filepath.Clean("/"+name)), Name: name, Tags: tags, BuildArgs: args,
		Target: q.Get("target"), Labels: labels, Network: network, NoCache: boolParam(q.Get("nocache")), Platform: q.Get("platform"),
		Ephemeral: true, Out: pw, Run: srv.Defaults,
		Base: func(ctx context.Context, ref string) (*store.Image, error) { return srv.baseImage(ctx, policy, ref) },
	}
	img, err := build.Build(r.Context(), srv.Store, opt)
	pw.Close()
	<-copied
	if err != nil {
		// a RUN's exit code goes in the error's code, which the docker
		// CLI exits with
		e := &jsonstream.Error{Message: err.Error()}
		if failed := (*build.StepFailed)(nil); errors.As(err, &failed) {
			e.Code = failed.Code
		}
		out.send(jsonstream.Message{Error: e})
		return
	}
	aux, _ := json.Marshal(map[string]string{"ID": img.ID.String()})
	raw := json.RawMessage(aux)
	out.send(jsonstream.Message{Aux: &raw})
	if quiet { // docker's quiet build sends the ID alone
		out.send(jsonstream.Message{Stream: img.ID.String() + "\n"})
		return
	}
	out.send(jsonstream.Message{Stream: "Successfully built " + img.ID.Hex[:12] + "\n"})
	for _, t := range tags {
		out.send(jsonstream.Message{Stream: "Successfully tagged " + familiar(t) + "\n"})
	}
}

// baseImage is a FROM's image, pulled as policy says.
func (srv *server) baseImage(ctx context.Context, policy pull.Policy, ref string) (*store.Image, error) {
	img, needed, err := policy.Needed(srv.Store, ref)
	if err != nil || !needed {
		return img, err
	}
	return pull.Pull(ctx, srv.Store, ref, pull.Options{Registries: srv.Registries})
}
