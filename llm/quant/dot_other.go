//go:build !amd64

package quant

const hasAVX2 = false

func dotQ8_0AVX2(row []byte, q []int8, d []float32) float32 { return dotQ8_0(row, q, d) }
func dotQ4_0AVX2(row []byte, q []int8, d []float32) float32 { return dotQ4_0(row, q, d) }
func dotQ5_0AVX2(row []byte, q []int8, d []float32) float32 { return dotQ5_0(row, q, d) }
func dotQ4_KAVX2(row []byte, a *Act) float32                { return dotQ4_K(row, a) }
func dotQ6_KAVX2(row []byte, a *Act) float32                { return dotQ6_K(row, a) }

func matVecAVX2(t Type, w []byte, rb, cols int, a *Act, out []float32, r0, r1 int) bool { return false }

func matMulAVX2(t Type, w []byte, rb, cols int, acts []Act, out [][]float32, r0, r1 int) bool {
	return false
}
