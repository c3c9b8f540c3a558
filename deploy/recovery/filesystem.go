package recovery

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrUnsupportedCodec: spark.deploy.recoveryCompressionCodec names a codec
// Ember cannot read or write. Ember keeps recovery files uncompressed.
var ErrUnsupportedCodec = errors.New("recovery: unsupported compression codec")

// tmpPrefix starts the name of a file being written. Keys may not start
// with a dot, so no key (and no Read prefix of a key) matches it.
const tmpPrefix = ".ember-recovery-"

// checkKey rejects keys that cannot be one file (or znode) name of the
// recovery dir. Spark's keys are app_<id>, driver_<id> and worker_<id>.
func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("recovery: empty key")
	case strings.HasPrefix(key, "."):
		return fmt.Errorf("recovery: key %q starts with a dot", key)
	case strings.ContainsAny(key, "/\\\x00"):
		return fmt.Errorf("recovery: key %q contains a path separator or NUL", key)
	}
	return nil
}

// checkCodec accepts the codecs of spark.deploy.recoveryCompressionCodec
// that Ember implements: none (unset or "none").
func checkCodec(codec string) error {
	switch name := strings.ToLower(strings.TrimSpace(codec)); name {
	case "", "none":
		return nil
	case "lz4", "lzf", "snappy", "zstd":
		return fmt.Errorf("%w: spark.deploy.recoveryCompressionCodec=%s is a Spark codec Ember does not implement; Ember supports only none (unset)", ErrUnsupportedCodec, codec)
	default:
		return fmt.Errorf("%w: spark.deploy.recoveryCompressionCodec=%s is unknown (Spark's codecs: none, lz4, lzf, snappy, zstd; Ember supports only none)", ErrUnsupportedCodec, codec)
	}
}

// fileSystem is the FILESYSTEM engine: one file per key in dir.
type fileSystem struct {
	dir string
}

// NewFileSystem returns the FILESYSTEM engine on dir
// (spark.deploy.recoveryDirectory), creating the dir and its parents if
// missing; a dir that is a symlink to a directory is used as is. codec is
// spark.deploy.recoveryCompressionCodec: "" or "none"; Spark's lz4, lzf,
// snappy and zstd are refused with ErrUnsupportedCodec.
//
// Each key is one file of mode 0600, published whole: the value goes to a
// temporary file in dir, which is synced and then linked (renamed where
// the file system has no hard links) to the key's name, and dir is synced.
// The engine is safe for concurrent use.
func NewFileSystem(dir string, codec string) (Engine, error) {
	if dir == "" {
		return nil, errors.New("recovery: FILESYSTEM needs a directory (spark.deploy.recoveryDirectory)")
	}
	if err := checkCodec(codec); err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	// MkdirAll stats through symlinks, so a symlink to a directory (or a
	// path through one) is accepted and missing parents are created.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("recovery: create recovery dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("recovery: recovery dir: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("recovery: recovery dir %s is not a directory", dir)
	}
	return &fileSystem{dir: dir}, nil
}

func (f *fileSystem) Persist(key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	path := filepath.Join(f.dir, key)
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%w: %s", ErrExists, path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("recovery: persist %s: %w", key, err)
	}

	tmp, err := os.CreateTemp(f.dir, tmpPrefix+"*") // mode 0600
	if err != nil {
		return fmt.Errorf("recovery: persist %s: %w", key, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a link, only the temporary name goes
	if _, err := tmp.Write(value); err != nil {
		tmp.Close()
		return fmt.Errorf("recovery: persist %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("recovery: persist %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("recovery: persist %s: %w", key, err)
	}

	// link(2) publishes atomically and never replaces an existing file,
	// so two writers of one key cannot both succeed.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		// No hard links here (some network and FUSE file systems):
		// rename, relying on the existence check above.
		if err := os.Rename(tmpName, path); err != nil {
			return fmt.Errorf("recovery: persist %s: %w", key, err)
		}
	}
	os.Remove(tmpName)
	if err := syncDir(f.dir); err != nil {
		return fmt.Errorf("recovery: persist %s: %w", key, err)
	}
	return nil
}

func (f *fileSystem) Unpersist(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(f.dir, key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("recovery: unpersist %s: %w", key, err)
	}
	if err := syncDir(f.dir); err != nil {
		return fmt.Errorf("recovery: unpersist %s: %w", key, err)
	}
	return nil
}

// Read returns the content of every regular file of the dir whose name
// starts with prefix (files being written are left out).
func (f *fileSystem) Read(prefix string) (map[string][]byte, error) {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("recovery: read %s: %w", f.dir, err)
	}
	out := make(map[string][]byte)
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || strings.HasPrefix(name, tmpPrefix) || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(f.dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // unpersisted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("recovery: read %s: %w", name, err)
		}
		out[name] = b
	}
	return out, nil
}

// Close releases nothing: the engine holds no open files between calls.
func (f *fileSystem) Close() error { return nil }

// syncDir makes the dir's entries (a new or removed name) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
