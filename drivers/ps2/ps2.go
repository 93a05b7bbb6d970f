// Package ps2 drives the i8042 PS/2 controller of a PC (and of QEMU): it
// turns the mouse on and hands every byte the controller receives to the
// mouse or keyboard decoder of package canvas/input. The controller is
// polled (Poll, from the canvas's frame loop): the kernel routes no PS/2
// interrupts, and the controller buffers what arrives between polls.
//
// It runs only on Velocity, where Go code may use I/O ports.
package ps2

import (
	"errors"
	"fmt"
	"time"

	"github.com/velocityos/velocity/arch/amd64/portio"
	"github.com/velocityos/velocity/kernel"
)

const (
	portData   = 0x60
	portStatus = 0x64 // read: status; write: command

	stOutFull = 1 << 0 // a byte waits in the data port
	stInFull  = 1 << 1 // the controller has not taken the last byte yet
	stAux     = 1 << 5 // the waiting byte is from the mouse

	cmdReadConfig  = 0x20
	cmdWriteConfig = 0x60
	cmdDisableAux  = 0xa7
	cmdEnableAux   = 0xa8
	cmdDisableKbd  = 0xad
	cmdEnableKbd   = 0xae
	cmdToAux       = 0xd4

	cfgKbdIRQ     = 1 << 0
	cfgAuxIRQ     = 1 << 1
	cfgAuxClkOff  = 1 << 5
	mouseDefaults = 0xf6
	mouseEnable   = 0xf4
	ack           = 0xfa
)

// Controller is an initialised controller with the mouse reporting.
type Controller struct {
	Mouse bool // the mouse acknowledged; false: keyboard only
}

func waitIn() error {
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
		if portio.Inb(portStatus)&stInFull == 0 {
			return nil
		}
	}
	return errors.New("ps2: controller does not take input")
}

func waitOut() (byte, error) {
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
		if portio.Inb(portStatus)&stOutFull != 0 {
			return portio.Inb(portData), nil
		}
	}
	return 0, errors.New("ps2: no reply from the controller")
}

func command(c byte) error {
	if err := waitIn(); err != nil {
		return err
	}
	portio.Outb(portStatus, c)
	return nil
}

func data(b byte) error {
	if err := waitIn(); err != nil {
		return err
	}
	portio.Outb(portData, b)
	return nil
}

func flush() {
	for i := 0; i < 64 && portio.Inb(portStatus)&stOutFull != 0; i++ {
		portio.Inb(portData)
	}
}

// mouseCommand sends b to the mouse and waits for its acknowledgement.
func mouseCommand(b byte) error {
	if err := command(cmdToAux); err != nil {
		return err
	}
	if err := data(b); err != nil {
		return err
	}
	for range 4 { // skip stray bytes before the ACK
		r, err := waitOut()
		if err != nil {
			return err
		}
		if r == ack {
			return nil
		}
	}
	return fmt.Errorf("ps2: mouse did not acknowledge %#x", b)
}

// Init sets the controller up for polling: both ports on, their
// interrupts off, the mouse set to defaults and reporting.
func Init() (*Controller, error) {
	if !kernel.OnVelocity() {
		return nil, errors.New("ps2: I/O ports need the Velocity kernel")
	}
	if portio.Inb(portStatus) == 0xff {
		return nil, errors.New("ps2: no controller (status port reads 0xff)")
	}
	if err := command(cmdDisableKbd); err != nil {
		return nil, err
	}
	if err := command(cmdDisableAux); err != nil {
		return nil, err
	}
	flush()
	if err := command(cmdReadConfig); err != nil {
		return nil, err
	}
	cfg, err := waitOut()
	if err != nil {
		return nil, err
	}
	cfg &^= cfgKbdIRQ | cfgAuxIRQ | cfgAuxClkOff
	if err := command(cmdWriteConfig); err != nil {
		return nil, err
	}
	if err := data(cfg); err != nil {
		return nil, err
	}
	if err := command(cmdEnableKbd); err != nil {
		return nil, err
	}
	if err := command(cmdEnableAux); err != nil {
		return nil, err
	}
	c := &Controller{}
	if mouseCommand(mouseDefaults) == nil && mouseCommand(mouseEnable) == nil {
		c.Mouse = true
	}
	flush()
	return c, nil
}

// Poll hands every waiting byte to mouse or key, and returns how many
// bytes it read (at most 256 per call, so a stuck controller cannot hold
// the frame loop).
func (c *Controller) Poll(mouse, key func(byte)) int {
	n := 0
	for ; n < 256; n++ {
		st := portio.Inb(portStatus)
		if st&stOutFull == 0 {
			break
		}
		b := portio.Inb(portData)
		if st&stAux != 0 {
			mouse(b)
		} else {
			key(b)
		}
	}
	return n
}
