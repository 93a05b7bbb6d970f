package tokenizer

// GPT-2's byte-level BPE works on text in which every byte is replaced by a
// printable rune: bytes that are printable Latin-1 stand for themselves, the
// other 68 are mapped in order to U+0100 onwards (so a space is "Ġ", U+0120,
// and a newline "Ċ", U+010A). Vocabularies store tokens in this form.

var byteRune [256]rune
var runeByte = map[rune]byte{}

func init() {
	next := rune(256)
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff) {
			byteRune[b] = rune(b)
		} else {
			byteRune[b] = next
			next++
		}
		runeByte[byteRune[b]] = byte(b)
	}
}

// ByteString returns the vocabulary form of raw bytes.
func ByteString(b []byte) string {
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i] = byteRune[c]
	}
	return string(rs)
}

// unbyte maps a vocabulary string back to raw bytes; ok is false if it
// holds a rune outside the byte alphabet.
func unbyte(s string) (b []byte, ok bool) {
	for _, r := range s {
		c, in := runeByte[r]
		if !in {
			return nil, false
		}
		b = append(b, c)
	}
	return b, true
}
