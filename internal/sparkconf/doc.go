// Package sparkconf is the old import path of package
// github.com/ember-rpc/ember/sparkconf, which is public so that programs
// outside Ember's module can configure it. Every name here is an alias of
// the public package's, so values pass freely between the two.
//
// Deprecated: import github.com/ember-rpc/ember/sparkconf.
package sparkconf

import (
	"io"
	"time"

	pub "github.com/ember-rpc/ember/sparkconf"
)

// Conf is sparkconf.Conf.
type Conf = pub.Conf

// Error is sparkconf.Error.
type Error = pub.Error

// The sentinel errors of the public package.
var (
	ErrSyntax       = pub.ErrSyntax
	ErrRange        = pub.ErrRange
	ErrUnit         = pub.ErrUnit
	ErrDefaultUnit  = pub.ErrDefaultUnit
	ErrOptionString = pub.ErrOptionString
)

// New is sparkconf.New.
func New() *Conf { return pub.New() }

// FromMap is sparkconf.FromMap.
func FromMap(m map[string]string) *Conf { return pub.FromMap(m) }

// IsKnownKey is sparkconf.IsKnownKey.
func IsKnownKey(key string) bool { return pub.IsKnownKey(key) }

// RegisterKnownKeys is sparkconf.RegisterKnownKeys.
func RegisterKnownKeys(keys ...string) { pub.RegisterKnownKeys(keys...) }

// LoadPropertiesFile is sparkconf.LoadPropertiesFile.
func LoadPropertiesFile(path string) (map[string]string, error) { return pub.LoadPropertiesFile(path) }

// ParseProperties is sparkconf.ParseProperties.
func ParseProperties(r io.Reader) (map[string]string, error) { return pub.ParseProperties(r) }

// ModuleKey is sparkconf.ModuleKey.
func ModuleKey(role, module, suffix string) string { return pub.ModuleKey(role, module, suffix) }

// ParseBytes is sparkconf.ParseBytes.
func ParseBytes(s string, defUnit int64) (int64, error) { return pub.ParseBytes(s, defUnit) }

// ParseDuration is sparkconf.ParseDuration.
func ParseDuration(s string, defUnit time.Duration) (time.Duration, error) {
	return pub.ParseDuration(s, defUnit)
}

// SplitOptionString is sparkconf.SplitOptionString.
func SplitOptionString(s string) ([]string, error) { return pub.SplitOptionString(s) }

// SystemProperties is sparkconf.SystemProperties.
func SystemProperties(optionStrings ...string) (map[string]string, error) {
	return pub.SystemProperties(optionStrings...)
}
