package oracle

import (
	"errors"
	"testing"
)

func TestBuild(t *testing.T) {
	o, err := Build()
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Logits("/nonexistent.gguf", []int{1}, 1, 1); err == nil {
		t.Error("a missing model gave no error")
	}
}
