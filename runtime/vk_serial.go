//go:build velocity

// Velocity kernel: the 16550 console on COM1 and allocation-free printing.

package runtime

const vkCOM1 = 0x3F8

var vkSerialReady bool

func vkSerialInit() {
	vkOutb(vkCOM1+1, 0x00) // no interrupts yet
	vkOutb(vkCOM1+3, 0x80) // DLAB
	vkOutb(vkCOM1+0, 0x01) // 115200 baud
	vkOutb(vkCOM1+1, 0x00)
	vkOutb(vkCOM1+3, 0x03) // 8N1
	vkOutb(vkCOM1+2, 0xC7) // FIFO on, cleared, 14-byte threshold
	vkOutb(vkCOM1+4, 0x0B) // DTR, RTS, OUT2
	vkSerialReady = true
}

func vkSerialPutc(c byte) {
	if c == '\n' {
		vkSerialPutc('\r')
	}
	for i := 0; i < 100000 && vkInb(vkCOM1+5)&0x20 == 0; i++ {
	}
	vkOutb(vkCOM1, c)
}

func vkWrite(b []byte) {
	for _, c := range b {
		vkSerialPutc(c)
	}
}

func vkPrint(s string) {
	for i := 0; i < len(s); i++ {
		vkSerialPutc(s[i])
	}
}

func vkPrintHex(v uint64) {
	const digits = "0123456789abcdef"
	var buf [18]byte
	buf[0], buf[1] = '0', 'x'
	for i := 0; i < 16; i++ {
		buf[17-i] = digits[v>>(4*i)&0xF]
	}
	vkWrite(buf[:])
}

func vkPrintDec(v int64) {
	var buf [21]byte
	i := len(buf)
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	for {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if neg {
		i--
		buf[i] = '-'
	}
	vkWrite(buf[i:])
}

// vkPrintFixed prints v/10^frac with frac decimals (v >= 0).
func vkPrintFixed(v int64, frac int) {
	p := int64(1)
	for i := 0; i < frac; i++ {
		p *= 10
	}
	vkPrintDec(v / p)
	vkSerialPutc('.')
	r := v % p
	for p /= 10; p > 0; p /= 10 {
		vkSerialPutc(byte('0' + r/p%10))
	}
}
