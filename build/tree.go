package build

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/sys/unix"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"tug/run"
	"tug/store"
	"tug/store/archive"
)

// tree is where a COPY takes its files from: the context, or a stage's
// or an image's filesystem.
type tree interface {
	// glob lists the paths rel names (wildcards expanded where the tree
	// can), relative to the tree's root.
	glob(rel string) ([]string, error)
	isDir(p string) (bool, error)
	// write gives sink the entries of the tree at p, the root one
	// named name, each header through fix; keyed, as what a cache key
	// digests (a file's hash may stand for its content).
	write(p, name string, sink archive.Sink, fix func(*tar.Header), keyed bool) error
	what() string
	close()
}

// contextTree is the build context, less what .dockerignore leaves out.
type contextTree struct {
	dir    string
	fd     int
	ignore *patternmatcher.PatternMatcher // nil: nothing left out
	hashes *fileHashes                    // the record that spares reading unchanged files
	// heredocs are the files of a COPY's heredocs, when this is their
	// directory rather than the context.
	heredocs []string
}

// contextTree opens the context and reads its ignore file:
// <Dockerfile>.dockerignore beside the Dockerfile, which wins, as
// BuildKit has it, else .dockerignore at the context's root.
func (b *builder) contextTree() (tree, error) {
	fd, err := unix.Open(b.opt.Context, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the context: %w", err)
	}
	t := &contextTree{dir: b.opt.Context, fd: fd}
	if !b.opt.Ephemeral {
		t.hashes = b.hashes()
	}
	for _, f := range []string{b.opt.Dockerfile + ".dockerignore", filepath.Join(b.opt.Context, ".dockerignore")} {
		patterns, err := readIgnoreFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err == nil {
			t.ignore, err = patternmatcher.New(patterns)
		}
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		break
	}
	return t, nil
}

func readIgnoreFile(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ignorefile.ReadAll(f)
}

func (t *contextTree) what() string { return "the build context" }
func (t *contextTree) close()       { unix.Close(t.fd) }

// ignored tells whether .dockerignore leaves out rel, or a directory
// above it.
func (t *contextTree) ignored(rel string) bool {
	if t.ignore == nil || rel == "." || rel == "" {
		return false
	}
	hit, err := t.ignore.MatchesOrParentMatches(rel)
	return err == nil && hit
}

// letsBackIn tells whether an exception of .dockerignore (!pattern)
// may match below the ignored directory dir, which must then be read.
func (t *contextTree) letsBackIn(dir string) bool {
	if t.ignore == nil || !t.ignore.Exclusions() {
		return false
	}
	for _, p := range t.ignore.Patterns() {
		if p.Exclusion() && matchesBelow(p.String(), dir) {
			return true
		}
	}
	return false
}

// matchesBelow tells whether pattern, element by element, may match a
// path below dir.
func matchesBelow(pattern, dir string) bool {
	pe, de := strings.Split(pattern, "/"), strings.Split(dir, "/")
	for i, d := range de {
		if i >= len(pe) {
			return false
		}
		if pe[i] == "**" {
			return true
		}
		if ok, _ := path.Match(pe[i], d); !ok {
			return false
		}
	}
	return len(pe) > len(de)
}

func (t *contextTree) glob(rel string) ([]string, error) {
	candidates := []string{rel}
	if hasWildcard(rel) {
		var err error
		if candidates, err = archive.Glob(t.fd, rel); err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
	}
	var out []string
	for _, c := range candidates {
		if st, err := t.stat(c); err == nil && (!t.ignored(c) || st.Mode&unix.S_IFMT == unix.S_IFDIR && t.letsBackIn(c)) {
			out = append(out, c)
		}
	}
	return out, nil
}

// parent opens the directory p is in, resolved inside the context.
func (t *contextTree) parent(p string) (int, string, error) {
	dir, base := path.Split(p)
	fd, err := unix.Openat2(t.fd, dirOrDot(dir), &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, "", fmt.Errorf("%s: %w", p, err)
	}
	return fd, dirOrDot(base), nil
}

// realPath is the host path of p, resolved inside the context: what a
// read-only bind of it mounts.
func (t *contextTree) realPath(p string) (string, error) {
	fd, err := unix.Openat2(t.fd, dirOrDot(p), &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	defer unix.Close(fd)
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "", err
	}
	root, err := filepath.EvalSymlinks(t.dir)
	if err != nil {
		return "", err
	}
	if root, err = filepath.Abs(root); err != nil {
		return "", err
	}
	if real != root && !strings.HasPrefix(real, root+"/") {
		return "", fmt.Errorf("%s: outside the build context", p)
	}
	return real, nil
}

func (t *contextTree) stat(p string) (*unix.Stat_t, error) {
	pfd, base, err := t.parent(p)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &st, nil
}

func (t *contextTree) isDir(p string) (bool, error) {
	st, err := t.stat(p)
	return err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR, err
}

func (t *contextTree) write(p, name string, sink archive.Sink, fix func(*tar.Header), keyed bool) error {
	pfd, base, err := t.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	rel := func(tarName string) string {
		return path.Join(p, strings.TrimPrefix(strings.TrimPrefix(tarName, name), "/"))
	}
	// read ahead what will be read: all but the files a cache key finds
	// in a record of their hashes
	opt := archive.WriteOptions{Prefix: name, Header: fix, ReadAhead: !keyed || t.hashes == nil || t.hashes.empty()}
	if t.ignore != nil {
		opt.Exclude = func(tarName string, _ *unix.Stat_t) bool { return t.ignored(rel(tarName)) }
		opt.Descend = func(tarName string) bool { return t.letsBackIn(rel(tarName)) }
	}
	if keyed && t.hashes != nil {
		opt.Content = func(tarName string, st *unix.Stat_t, open func() (*os.File, error)) (string, error) {
			return t.hashes.content(rel(tarName), st, open)
		}
	}
	return archive.WriteTo(pfd, base, sink, opt)
}

// imageTree is a stage's or an image's filesystem, read through a
// container made of it and never started.
type imageTree struct {
	s   *store.Store
	ref string
	ctr *store.Container
}

// stageTree is the filesystem of COPY --from's stage (by name or
// number) or image (pulled when missing).
func (b *builder) stageTree(from string) (tree, error) {
	img, err := b.fromImage(from)
	if err != nil {
		return nil, err
	}
	return b.imageTree(img, from)
}

// imageTree is the filesystem of img (what calls it ref).
func (b *builder) imageTree(img v1.Image, ref string) (tree, error) {
	simg, err := b.addTemporary(img)
	if err != nil {
		return nil, err
	}
	opt := b.opt.Run
	opt.EntrypointSet, opt.Entrypoint, opt.Cmd, opt.Network = true, []string{""}, []string{"true"}, "none"
	ctr, err := run.Create(b.s, simg, "", opt)
	if err != nil {
		return nil, err
	}
	return &imageTree{s: b.s, ref: ref, ctr: ctr}, nil
}

// fromImage is the image of an earlier stage, or the image ref.
func (b *builder) fromImage(ref string) (v1.Image, error) {
	if j, ok := b.df.stageIndex(ref, len(b.df.Stages)); ok {
		return b.stage(j)
	}
	img, err := b.opt.Base(b.ctx, ref)
	if err != nil {
		return nil, err
	}
	return b.s.V1Image(img)
}

func (t *imageTree) what() string { return t.ref }
func (t *imageTree) close()       { removeContainer(t.s, t.ctr) }

func (t *imageTree) glob(rel string) ([]string, error) {
	if hasWildcard(rel) {
		return run.Glob(t.s, t.ctr, rel)
	}
	info, err := run.Stat(t.s, t.ctr, "/"+rel)
	if err != nil || !info.Exists {
		return nil, err
	}
	return []string{rel}, nil
}

func (t *imageTree) isDir(p string) (bool, error) {
	info, err := run.Stat(t.s, t.ctr, "/"+p)
	return info.IsDir, err
}

func (t *imageTree) write(p, name string, sink archive.Sink, fix func(*tar.Header), _ bool) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(run.CopyOut(t.s, t.ctr, "/"+p, name, pw)) }()
	err := appendTar(sink, pr, fix)
	pr.CloseWithError(err)
	return err
}

// removeContainer removes a container the build made, with the
// anonymous volumes its image's VOLUMEs gave it.
func removeContainer(s *store.Store, c *store.Container) {
	run.RemoveRef(s, c.ID, run.RemoveOptions{Force: true, Volumes: true})
}

// hasWildcard tells whether a COPY source has wildcards to expand.
func hasWildcard(p string) bool { return strings.ContainsAny(p, `*?[`) }

// dirOrDot is d relative, "." for the root.
func dirOrDot(d string) string {
	if d = strings.Trim(d, "/"); d == "" {
		return "."
	}
	return d
}
