package javaser

// Limits bound what a reader accepts from a peer. Every limit guards
// against hostile input; the defaults are far above what Spark's messages
// need (a RegisterApplication is a few kilobytes, 8 levels deep).
type Limits struct {
	// MaxDepth is the deepest nesting of objects, arrays and descriptors.
	MaxDepth int
	// MaxArrayLength is the longest array.
	MaxArrayLength int
	// MaxStringLength is the longest string or block, in bytes on the wire.
	MaxStringLength int
	// MaxHandles is the most objects, strings and descriptors one stream
	// may define.
	MaxHandles int
	// MaxBytes is the longest stream accepted.
	MaxBytes int
	// MaxAlloc bounds the memory the decoded model may take, in bytes
	// (an estimate: strings, slices and a fixed cost per value).
	MaxAlloc int64
}

// DefaultLimits returns the limits a Decoder uses unless told otherwise.
func DefaultLimits() Limits {
	return Limits{
		MaxDepth:        256,
		MaxArrayLength:  16 << 20,
		MaxStringLength: 16 << 20,
		MaxHandles:      1 << 20,
		MaxBytes:        256 << 20,
		MaxAlloc:        128 << 20,
	}
}

// Option configures a Decoder.
type Option interface{ apply(*Limits) }

type optionFunc func(*Limits)

func (f optionFunc) apply(l *Limits) { f(l) }

// WithLimits replaces all limits.
func WithLimits(l Limits) Option { return optionFunc(func(d *Limits) { *d = l }) }

// WithMaxDepth sets Limits.MaxDepth.
func WithMaxDepth(n int) Option { return optionFunc(func(l *Limits) { l.MaxDepth = n }) }

// WithMaxArrayLength sets Limits.MaxArrayLength.
func WithMaxArrayLength(n int) Option { return optionFunc(func(l *Limits) { l.MaxArrayLength = n }) }

// WithMaxStringLength sets Limits.MaxStringLength.
func WithMaxStringLength(n int) Option {
	return optionFunc(func(l *Limits) { l.MaxStringLength = n })
}

// WithMaxHandles sets Limits.MaxHandles.
func WithMaxHandles(n int) Option { return optionFunc(func(l *Limits) { l.MaxHandles = n }) }

// WithMaxBytes sets Limits.MaxBytes.
func WithMaxBytes(n int) Option { return optionFunc(func(l *Limits) { l.MaxBytes = n }) }

// WithMaxAlloc sets Limits.MaxAlloc.
func WithMaxAlloc(n int64) Option { return optionFunc(func(l *Limits) { l.MaxAlloc = n }) }
