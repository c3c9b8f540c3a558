// Package pi is Spark's SparkPi on the app runtime: a Monte Carlo estimate
// of π. Importing it registers the task kind "pi.sample" in the process, so
// a program that imports it can serve as the executors.
package pi

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/ember-rpc/ember/deploy/app"
)

// Kind is the task kind of one slice of samples.
const Kind = "pi.sample"

func init() { app.RegisterTask(Kind, sample) }

// Input encodes a slice: samples and seed, each 8 bytes big-endian.
func Input(samples, seed uint64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, samples)
	binary.BigEndian.PutUint64(b[8:], seed)
	return b
}

// Sample counts how many of samples random points of the square
// [-1,1]² fall in the unit circle.
func Sample(samples, seed uint64) uint64 {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var hits uint64
	for range samples {
		x, y := r.Float64()*2-1, r.Float64()*2-1
		if x*x+y*y <= 1 {
			hits++
		}
	}
	return hits
}

// sample is the task: Input in, hits as 8 bytes big-endian out.
func sample(ctx context.Context, _ app.TaskContext, in []byte) ([]byte, error) {
	if len(in) != 16 {
		return nil, fmt.Errorf("pi.sample: input is %d bytes, want 16", len(in))
	}
	samples, seed := binary.BigEndian.Uint64(in), binary.BigEndian.Uint64(in[8:])
	var hits uint64
	const chunk = 1 << 16 // check for cancellation between chunks
	for done := uint64(0); done < samples; done += chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hits += Sample(min(chunk, samples-done), seed+done)
	}
	return binary.BigEndian.AppendUint64(nil, hits), nil
}

// Run estimates π with slices tasks of samplesPerSlice points each.
func Run(ctx context.Context, d *app.Driver, slices, samplesPerSlice int) (float64, error) {
	if slices < 1 || samplesPerSlice < 1 {
		return 0, errors.New("pi: slices and samples must be positive")
	}
	tasks := make([]app.Task, slices)
	for i := range tasks {
		tasks[i] = app.Task{Kind: Kind, Input: Input(uint64(samplesPerSlice), uint64(i+1)<<32)}
	}
	res, err := d.RunTasks(ctx, tasks)
	if err != nil {
		return 0, err
	}
	var hits uint64
	for i, r := range res {
		if len(r.Output) != 8 {
			return 0, fmt.Errorf("pi: slice %d returned %d bytes, want 8", i, len(r.Output))
		}
		hits += binary.BigEndian.Uint64(r.Output)
	}
	return 4 * float64(hits) / float64(uint64(slices)*uint64(samplesPerSlice)), nil
}
