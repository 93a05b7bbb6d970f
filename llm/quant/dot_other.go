//go:build !amd64

package quant

const hasAVX2 = false

func dotQ8_0AVX2(row []byte, q []int8, d []float32) float32 { return dotQ8_0(row, q, d) }
