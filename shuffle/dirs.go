package shuffle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrLocalDirRefused: an executor named a local dir the service will not
// serve from (relative, with "..", a system or top-level dir, or outside
// spark.shuffle.service.ember.allowedLocalDirRoots).
var ErrLocalDirRefused = errors.New("shuffle: local dir refused")

// ErrOutsideLocalDir: a block file is a symbolic link, or its dir is not a
// real dir inside the executor's registered local dir.
var ErrOutsideLocalDir = errors.New("shuffle: block file is not a regular file inside the executor's local dir")

// systemDirs are never local dirs, nor anything beneath them.
var systemDirs = []string{"/etc", "/proc", "/sys", "/dev", "/bin", "/sbin", "/usr", "/boot", "/lib", "/lib32", "/lib64", "/libx32", "/run/secrets"}

// dirPolicy decides which local dirs an executor may register. A dir must
// be absolute, without "..", at least two levels deep, not a system dir
// nor under one, and (unless allowAll) strictly beneath one of roots; the
// checks apply to the path as given and to the path with its symbolic
// links resolved.
type dirPolicy struct {
	allowAll bool
	roots    []string // cleaned, symbolic links resolved
}

// newDirPolicy resolves roots; no roots allows every dir that is not a
// system dir.
func newDirPolicy(roots []string) (*dirPolicy, error) {
	p := &dirPolicy{allowAll: len(roots) == 0}
	for _, r := range roots {
		if !filepath.IsAbs(r) {
			return nil, fmt.Errorf("shuffle: allowed local dir root %q is not absolute", r)
		}
		p.roots = append(p.roots, resolveExisting(filepath.Clean(r)))
	}
	return p, nil
}

// check accepts a local dir an executor registers.
func (p *dirPolicy) check(d string) error {
	if !filepath.IsAbs(d) {
		return fmt.Errorf("%w: %q is not absolute", ErrLocalDirRefused, d)
	}
	for _, part := range strings.Split(filepath.ToSlash(d), "/") {
		if part == ".." {
			return fmt.Errorf("%w: %q contains ..", ErrLocalDirRefused, d)
		}
	}
	clean := filepath.Clean(d)
	resolved := resolveExisting(clean)
	for _, x := range []string{clean, resolved} {
		if strings.Count(filepath.ToSlash(x), "/") < 2 {
			return fmt.Errorf("%w: %q (%s) is the root or a top-level dir", ErrLocalDirRefused, d, x)
		}
		for _, s := range systemDirs {
			if beneath(x, s) || x == s {
				return fmt.Errorf("%w: %q (%s) is a system dir", ErrLocalDirRefused, d, x)
			}
		}
	}
	if p.allowAll {
		return nil
	}
	for _, r := range p.roots {
		if beneath(resolved, r) {
			return nil
		}
	}
	return fmt.Errorf("%w: %q (%s) is not beneath an allowed root %v (spark.shuffle.service.ember.allowedLocalDirRoots)",
		ErrLocalDirRefused, d, resolved, p.roots)
}

// beneath reports whether path is strictly inside dir (both clean).
func beneath(path, dir string) bool {
	if dir == "/" {
		return path != "/"
	}
	return strings.HasPrefix(path, dir+string(filepath.Separator))
}

// resolveExisting resolves the symbolic links of the longest existing
// prefix of a clean absolute path and appends the rest.
func resolveExisting(p string) string {
	rest := ""
	for cur := p; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// blockFile opens name in the executor's dirs, where Spark places it
// (FilePath), and returns it with its size. The name must be a plain file
// name (validBlockFileName); the sub-dir and the file are reached from the
// descriptor of the registered local dir without following a symbolic
// link (open_unix.go; open_portable.go elsewhere), and the file must be a
// regular file. A missing
// sub-dir or file gives an error wrapping os.ErrNotExist; a symbolic link,
// or a non-dir where the sub-dir belongs, ErrOutsideLocalDir.
func (r *resolver) blockFile(e *execEntry, name string) (*os.File, int64, error) {
	if err := validBlockFileName(name); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrOutsideLocalDir, err)
	}
	var f *os.File
	var size int64
	err := r.inDir(e, name, func(dir *localDir, sub, path string) error {
		var err error
		f, size, err = openRegular(dir, sub+"/"+name, path)
		return err
	})
	return f, size, err
}

// removeBlockFile deletes name from the executor's dirs if it is a regular
// file there, reached as blockFile reaches it.
func (r *resolver) removeBlockFile(e *execEntry, name string) error {
	if err := validBlockFileName(name); err != nil {
		return fmt.Errorf("%w: %v", ErrOutsideLocalDir, err)
	}
	return r.inDir(e, name, func(dir *localDir, sub, path string) error {
		return unlinkRegular(dir, sub, name, path)
	})
}

// errDirClosed: the executor's local dir was closed (the executor was
// removed) while a lookup beneath it started.
var errDirClosed = errors.New("shuffle: local dir closed")

// inDir runs op with the open local dir that holds name, the name of its
// sub-dir there, and the path (for messages). The dir's descriptor stays
// open while op runs, even if the executor is removed meanwhile.
func (r *resolver) inDir(e *execEntry, name string, op func(dir *localDir, sub, path string) error) error {
	i, sub := fileLocation(len(e.info.LocalDirs), int(e.info.SubDirsPerLocalDir), name)
	path := filepath.Join(e.info.LocalDirs[i], sub, name)
	dir, err := r.localDir(e, i)
	if err != nil {
		return err
	}
	err = op(dir, sub, path)
	if errors.Is(err, errDirClosed) {
		return fmt.Errorf("%w (appId=%s, execId=%s): %v", ErrNotRegistered, e.id.AppID, e.id.ExecID, err)
	}
	return err
}

// localDir returns the open local dir i of the executor. A dir that did
// not exist when the executor registered is checked against the dir
// policy again and opened now, once.
func (r *resolver) localDir(e *execEntry, i int) (*localDir, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.dirs == nil {
		return nil, fmt.Errorf("%w (appId=%s, execId=%s)", ErrNotRegistered, e.id.AppID, e.id.ExecID)
	}
	if f := e.dirs[i]; f != nil {
		return f, nil
	}
	d := e.info.LocalDirs[i]
	if err := r.dirs.check(d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOutsideLocalDir, err)
	}
	f, err := openLocalDir(d)
	if err != nil {
		return nil, err
	}
	e.dirs[i] = f
	return f, nil
}
