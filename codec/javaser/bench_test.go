package javaser_test

import (
	"testing"

	"github.com/ember-rpc/ember/codec/javaser"
)

// A RegisterApplication (a few kilobytes, ~60 objects) decoded and encoded.
func BenchmarkUnmarshalRegisterApplication(b *testing.B) {
	data := goldenBytes(b, "register-application")
	d := javaser.NewDecoder()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := d.Unmarshal(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalRegisterApplication(b *testing.B) {
	data := goldenBytes(b, "register-application")
	v, err := javaser.Unmarshal(data)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, len(data))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if buf, err = javaser.AppendMarshal(buf[:0], v); err != nil {
			b.Fatal(err)
		}
	}
}
