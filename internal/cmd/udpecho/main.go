// Command udpecho answers each UDP datagram on a port with the same
// bytes, or a datagram reading "addr?" with the sender's address: the
// end-to-end tests run it in a container to check UDP publishing, which
// busybox cannot serve. "udpecho -send HOST:PORT TEXT" is its client: it
// sends TEXT and prints the answer.
package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	switch {
	case len(os.Args) == 4 && os.Args[1] == "-send":
		if err := send(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case len(os.Args) == 2:
		if err := serve(os.Args[1]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: udpecho PORT | udpecho -send HOST:PORT TEXT")
		os.Exit(2)
	}
}

func serve(port string) error {
	c, err := net.ListenPacket("udp4", ":"+port)
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		reply := buf[:n]
		if string(reply) == "addr?" {
			reply = []byte(from.String())
		}
		c.WriteTo(reply, from)
	}
}

func send(addr, text string) error {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte(text)); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64<<10)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	fmt.Println(string(buf[:n]))
	return nil
}
