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

// blockFile returns where name lives among the executor's dirs after
// checking, without following symbolic links, that it can be opened there:
// the local dir is a dir (if it has become a symbolic link, its target
// must still pass the dir policy), the sub-dir a real dir in it, and the
// file, if it exists, a regular file. A missing sub-dir or file gives an
// error wrapping os.ErrNotExist (a missing file only from the caller's own
// open). The check and the later open by path are not one atomic step; a
// local user who can rename inside an executor's dir could still race
// them.
func (r *resolver) blockFile(info ExecutorShuffleInfo, name string) (string, error) {
	path := FilePath(info.LocalDirs, int(info.SubDirsPerLocalDir), name)
	sub := filepath.Dir(path)
	local := filepath.Dir(sub)
	st, err := os.Lstat(local)
	if err != nil {
		return "", err
	}
	if st.Mode()&os.ModeSymlink != 0 {
		if err := r.dirs.check(local); err != nil {
			return "", fmt.Errorf("%w: %v", ErrOutsideLocalDir, err)
		}
	}
	st, err = os.Lstat(sub)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return "", fmt.Errorf("%w: %s is not a dir", ErrOutsideLocalDir, sub)
	}
	st, err = os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return path, nil
	}
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %s (%v)", ErrOutsideLocalDir, path, st.Mode().Type())
	}
	return path, nil
}
