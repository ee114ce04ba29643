// Command gopeer times Go's io.Copy on the cells of io_copy's tour (examples/tour), with the
// tour's method, so that the tour can show Go beside io_copy and std::io::copy.
//
//	gopeer serve <far-end>                  take commands on stdin, one per line (below)
//	gopeer <pair> <bytes> <dir> <far-end>   time one pair at one size alone, far ends in processes;
//	                                        <dir> holds the files ("-": none)
//	gopeer version                          print the Go version it was built with
//
// Pairs: file-file, file-tcp, tcp-tcp, tcp-file, tcp-pipe, tcp-unix, file-pipe, pipe-file,
// file-unix, unix-unix, file-null, file-child, child-file, mem-buf. Each is what a Go program
// writes for the tour's pair: *os.File, *net.TCPConn, *net.UnixConn (from socketpair), os.Pipe,
// os/exec's StdinPipe and StdoutPipe, bytes.Reader into bytes.Buffer. A socket or pipe source is
// read through io.LimitReader(src, bytes), as a proxy relays a framed stream; a file to its end.
//
// The method is the tour's. Only the io.Copy call is timed. A sample is a batch of copies;
// untimed: rewinding the source file and truncating the sink file before each copy. A feeder
// writes a socket or pipe source and a drainer reads a socket or pipe sink, streaming the whole
// batch. With far ends "proc" they are processes of <far-end>, the tour's own far-end program
// (examples/tour/pairs.rs has its protocol), the same as for io_copy and std; for child stdio the
// child is that program. With "thread" they are goroutines of this process (child stdio: `cat`,
// with a goroutine on its other end). Before any sample, one copy is checked at the far end by
// its length and the tour's checksum (/dev/null: by its count); every copy's count is checked.
//
// The tour runs one `gopeer serve` for its tables and interleaves Go's samples with its own, so
// that each ratio compares samples taken close in time on a machine whose speed drifts. It writes
// one command per line and reads one line per command:
//
//	setup <pair> <bytes> <dir> <far>  builds the pair (files, sockets, far ends), makes the
//	                                  checked copy; replies "ok checked=<bytes|count>
//	                                  checksum=<the tour's checksum of the far end's bytes|->"
//	                                  or "err <msg>"
//	sample <copies>                   times one batch of that many copies of the cell; replies
//	                                  "<seconds per copy>" or "err <msg>" (the cell is then torn
//	                                  down)
//	teardown                          closes the cell; replies "ok"
//
// It exits at the end of stdin, and by itself if one command runs for over 90 s.
//
// Alone, `gopeer <pair> <bytes> <dir> <far-end>` takes the tour's samples in one block (at least
// 8 MiB per sample, 2048 copies of 4 KiB; the median of 5 samples at 64 MiB and up, of 11 from
// 1 MiB, of 21 below) and prints one line of key=value fields:
//
//	secs_per_copy=<median> copies=<per sample> samples=<n> checked=<bytes|count>
//	checksum=<the tour's checksum of the far end's bytes|->
//
// and exits 0, or prints the error on stderr and exits 1.
//
// The relay's CPU is not measured. A goroutine moves between threads, so getrusage(RUSAGE_THREAD)
// needs runtime.LockOSThread, and in one run on this project's 2-CPU machine the lock made the
// relay itself 1.6x (TCP, 4 KiB) to 5.5x (Unix, 4 KiB) slower: its thread's CPU would measure
// the lock.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	kib = 1 << 10
	mib = 1 << 20
	// A sample copies at least this many bytes, so that small copies are timed in batches.
	sampleBytes = 8 * mib
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "version" {
		fmt.Printf("%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return
	}
	if len(os.Args) == 3 && os.Args[1] == "serve" {
		serve(os.Stdin, os.Stdout, os.Args[2])
		return
	}
	if len(os.Args) != 5 {
		fail("usage: gopeer serve <far-end> | gopeer <pair> <bytes> <dir> <far-end> | gopeer version")
	}
	n, err := strconv.ParseInt(os.Args[2], 10, 64)
	if err != nil || n <= 0 {
		fail("bytes: want a positive count, got %q", os.Args[2])
	}
	// A hung copy must not hang the tour.
	time.AfterFunc(90*time.Second, func() { fail("timed out after 90 s") })

	data := pattern(imax(n, sampleBytes))
	c, err := build(os.Args[1], n, os.Args[3], data, farEnds{"proc", os.Args[4]})
	if err != nil {
		fail("%s: %v", os.Args[1], err)
	}
	line, err := c.measure()
	c.close()
	if err != nil {
		fail("%s %d: %v", os.Args[1], n, err)
	}
	fmt.Println(line)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gopeer: "+format+"\n", args...)
	os.Exit(1)
}

func imax(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func imin(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

// serve answers the tour's commands (see the package comment) until the end of in.
func serve(in io.Reader, out io.Writer, farEnd string) {
	lines := bufio.NewScanner(in)
	w := bufio.NewWriter(out)
	reply := func(format string, args ...any) {
		fmt.Fprintf(w, format+"\n", args...)
		if err := w.Flush(); err != nil {
			fail("serve: %v", err)
		}
	}
	// A hung copy must not outlive the tour: the tour kills a peer that stops answering, and
	// this ends one that nobody is waiting for.
	watchdog := time.AfterFunc(time.Hour, func() { fail("serve: a command ran for over 90 s") })
	watchdog.Stop()
	var c *cell
	var data []byte
	teardown := func() {
		if c != nil {
			c.close()
			c = nil
		}
	}
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) == 0 {
			continue
		}
		watchdog.Reset(90 * time.Second)
		switch {
		case f[0] == "setup" && len(f) == 5:
			teardown()
			n, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil || n <= 0 {
				reply("err bytes: want a positive count, got %q", f[2])
				break
			}
			// The pattern from its start, as long as the largest cell needs: a batch of the
			// feeder carries the same bytes whatever size came before.
			if need := imax(n, sampleBytes); int64(len(data)) < need {
				data = pattern(need)
			}
			if f[4] != "proc" && f[4] != "thread" {
				reply("err far ends: want proc or thread, got %q", f[4])
				break
			}
			next, err := build(f[1], n, f[3], data, farEnds{f[4], farEnd})
			if err != nil {
				reply("err %s: %v", f[1], err)
				break
			}
			checked, sum, err := next.check()
			if err != nil {
				next.close()
				reply("err %s %d: checked copy: %v", f[1], n, err)
				break
			}
			c = next
			reply("ok checked=%s checksum=%s", checked, sum)
		case f[0] == "sample" && len(f) == 2:
			copies, err := strconv.ParseInt(f[1], 10, 64)
			switch {
			case err != nil || copies <= 0:
				reply("err copies: want a positive count, got %q", f[1])
			case c == nil:
				reply("err no cell: setup first")
			default:
				d, _, err := c.batch(copies, false)
				if err != nil {
					// The streams may hold a part of the batch: nothing more is timed on them.
					teardown()
					reply("err %v", err)
					break
				}
				reply("%.6e", d.Seconds()/float64(copies))
			}
		case f[0] == "teardown" && len(f) == 1:
			teardown()
			reply("ok")
		default:
			reply("err unknown command %q (setup <pair> <bytes> <dir> <far> | sample <copies> | teardown)",
				lines.Text())
		}
		watchdog.Stop()
	}
	teardown()
	if err := lines.Err(); err != nil {
		fail("serve: %v", err)
	}
}

// ---------------------------------------------------------------------------------------------
// Sources and sinks

type source interface {
	// begin makes total bytes available; untimed, once per batch.
	begin(total int64)
	// reset readies the next copy; untimed.
	reset() error
	// reader is what one copy reads.
	reader() io.Reader
}

type sink interface {
	// begin readies the far end for total bytes; untimed, once per batch.
	begin(total int64, verify bool)
	// reset readies the next copy; untimed.
	reset() error
	// writer is what a copy writes.
	writer() io.Writer
	// end waits until the far end has every byte; with verify it returns how many bytes the
	// far end got, the tour's checksum of them, and true, or false where nothing can be read
	// back (/dev/null).
	end(verify bool) (int64, uint64, bool, error)
}

// fileSource is a regular file, read from its start to its end by each copy.
type fileSource struct{ f *os.File }

func (s *fileSource) begin(int64)       {}
func (s *fileSource) reset() error      { _, err := s.f.Seek(0, io.SeekStart); return err }
func (s *fileSource) reader() io.Reader { return s.f }

// fedSource is a stream that a feeder writes into; each copy takes n bytes of it.
type fedSource struct {
	r    io.Reader
	n    int64
	feed func(total int64)
	lr   io.Reader
}

func (s *fedSource) begin(total int64) { s.feed(total) }
func (s *fedSource) reset() error      { s.lr = io.LimitReader(s.r, s.n); return nil }
func (s *fedSource) reader() io.Reader { return s.lr }

// memSource is bytes in memory, read by a bytes.Reader.
type memSource struct {
	data []byte
	rd   bytes.Reader
}

func (s *memSource) begin(int64)       {}
func (s *memSource) reset() error      { s.rd.Reset(s.data); return nil }
func (s *memSource) reader() io.Reader { return &s.rd }

// bufSink is a bytes.Buffer, reset before each copy.
type bufSink struct{ buf bytes.Buffer }

func (k *bufSink) begin(int64, bool) {}
func (k *bufSink) reset() error      { k.buf.Reset(); return nil }
func (k *bufSink) writer() io.Writer { return &k.buf }

func (k *bufSink) end(verify bool) (int64, uint64, bool, error) {
	return int64(k.buf.Len()), checksum(k.buf.Bytes()), true, nil
}

// fileSink is a file written from its start by each copy, truncated first; or /dev/null.
type fileSink struct {
	path    string
	f       *os.File
	regular bool
}

func (k *fileSink) begin(int64, bool) {}

func (k *fileSink) reset() error {
	if k.regular {
		if err := k.f.Truncate(0); err != nil {
			return err
		}
	}
	_, err := k.f.Seek(0, io.SeekStart)
	return err
}

func (k *fileSink) writer() io.Writer { return k.f }

func (k *fileSink) end(verify bool) (int64, uint64, bool, error) {
	if !k.regular {
		return 0, 0, false, nil
	}
	if !verify {
		return 0, 0, true, nil
	}
	b, err := os.ReadFile(k.path)
	return int64(len(b)), checksum(b), true, err
}

// drainedSink is a stream that a drainer reads.
type drainedSink struct {
	w      io.Writer
	expect func(total int64, verify bool) error
	wait   func() (int64, uint64, error)
}

func (k *drainedSink) begin(total int64, verify bool) { k.expect(total, verify) }
func (k *drainedSink) reset() error                   { return nil }
func (k *drainedSink) writer() io.Writer              { return k.w }

func (k *drainedSink) end(verify bool) (int64, uint64, bool, error) {
	got, sum, err := k.wait()
	return got, sum, true, err
}

// feeder starts a goroutine that writes total bytes into w per request: the pattern from its
// start, again and again, so that a batch of one copy carries exactly the checked bytes. It ends
// when req is closed, or when a write fails: the cell is closing, and a copy that still waits
// for the bytes fails or times out.
func feeder(w io.Writer, data []byte) chan<- int64 {
	req := make(chan int64, 1)
	go func() {
		for left := range req {
			for left > 0 {
				k := imin(left, int64(len(data)))
				if _, err := w.Write(data[:k]); err != nil {
					return
				}
				left -= k
			}
		}
	}()
	return req
}

type drainReq struct {
	total  int64
	verify bool
}

type drainAns struct {
	got int64
	sum uint64
	err error
}

// drainer reads exactly total bytes per request and answers with them when asked to verify.
type drainer struct {
	req chan drainReq
	ans chan drainAns
}

func newDrainer(r io.Reader) *drainer {
	d := &drainer{make(chan drainReq, 1), make(chan drainAns, 1)}
	go func() {
		buf := make([]byte, 256*kib)
		for q := range d.req {
			var kept []byte
			var err error
			got := int64(0)
			for got < q.total {
				k, e := r.Read(buf[:imin(q.total-got, int64(len(buf)))])
				got += int64(k)
				if q.verify {
					kept = append(kept, buf[:k]...)
				}
				if e == io.EOF {
					break
				}
				if e != nil {
					err = e
					break
				}
			}
			d.ans <- drainAns{got, checksum(kept), err}
		}
	}()
	return d
}

// ---------------------------------------------------------------------------------------------
// Pairs

type cell struct {
	n       int64
	data    []byte
	src     source
	dst     sink
	closers []func()
}

func (c *cell) close() {
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
}

func build(pair string, n int64, dir string, data []byte, far farEnds) (*cell, error) {
	c := &cell{n: n, data: data}
	ok := false
	defer func() {
		if !ok {
			c.close()
		}
	}()
	fileSrc := func() (source, error) {
		f, err := sourceFile(dir, data[:n], c)
		return &fileSource{f}, err
	}
	fileDst := func() (sink, error) {
		if dir == "-" {
			return nil, fmt.Errorf("%s needs a directory", pair)
		}
		path := filepath.Join(dir, "go-dst")
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		c.closers = append(c.closers, func() { f.Close(); os.Remove(path) })
		return &fileSink{path, f, true}, nil
	}
	// A far end in a goroutine ends with the cell: closing its requests ends an idle one,
	// closing the streams one that is still writing or reading. A far-end process is given its
	// end of the stream (Go's copy is closed here) and ends with its control socket.
	fed := func(r io.Reader, w any) (source, error) {
		if far.mode == "thread" {
			feed := feeder(w.(io.Writer), data)
			c.closers = append(c.closers, func() { close(feed) })
			return &fedSource{r: r, n: n, feed: func(t int64) { feed <- t }}, nil
		}
		p, err := far.start(c, "feed", w)
		if err != nil {
			return nil, err
		}
		return &fedSource{r: r, n: n, feed: p.feed}, nil
	}
	drained := func(w io.Writer, r any) (sink, error) {
		if far.mode == "thread" {
			d := newDrainer(r.(io.Reader))
			c.closers = append(c.closers, func() { close(d.req) })
			return goroutineSink(w, d), nil
		}
		p, err := far.start(c, "drain", r)
		if err != nil {
			return nil, err
		}
		return &drainedSink{w, p.expect, p.wait}, nil
	}
	var err error
	switch pair {
	case "file-file":
		if c.src, err = fileSrc(); err == nil {
			c.dst, err = fileDst()
		}
	case "file-tcp":
		var client, server *net.TCPConn
		if client, server, err = tcpPair(c); err == nil {
			if c.src, err = fileSrc(); err == nil {
				c.dst, err = drained(client, server)
			}
		}
	case "tcp-tcp":
		var ac, as, bc, bs *net.TCPConn
		if ac, as, err = tcpPair(c); err == nil {
			if bc, bs, err = tcpPair(c); err == nil {
				if c.src, err = fed(as, ac); err == nil {
					c.dst, err = drained(bc, bs)
				}
			}
		}
	case "tcp-file":
		var client, server *net.TCPConn
		if client, server, err = tcpPair(c); err == nil {
			if c.src, err = fed(server, client); err == nil {
				c.dst, err = fileDst()
			}
		}
	case "tcp-pipe":
		var client, server *net.TCPConn
		var r, w *os.File
		if client, server, err = tcpPair(c); err == nil {
			if r, w, err = pipe(c); err == nil {
				if c.src, err = fed(server, client); err == nil {
					c.dst, err = drained(w, r)
				}
			}
		}
	case "tcp-unix":
		var client, server *net.TCPConn
		var near, far *net.UnixConn
		if client, server, err = tcpPair(c); err == nil {
			if near, far, err = unixPair(c); err == nil {
				if c.src, err = fed(server, client); err == nil {
					c.dst, err = drained(near, far)
				}
			}
		}
	case "file-pipe":
		var r, w *os.File
		if r, w, err = pipe(c); err == nil {
			if c.src, err = fileSrc(); err == nil {
				c.dst, err = drained(w, r)
			}
		}
	case "pipe-file":
		var r, w *os.File
		if r, w, err = pipe(c); err == nil {
			if c.src, err = fed(r, w); err == nil {
				c.dst, err = fileDst()
			}
		}
	case "file-unix":
		var near, far *net.UnixConn
		if near, far, err = unixPair(c); err == nil {
			if c.src, err = fileSrc(); err == nil {
				c.dst, err = drained(near, far)
			}
		}
	case "unix-unix":
		var aFar, aNear, bNear, bFar *net.UnixConn
		if aFar, aNear, err = unixPair(c); err == nil {
			if bNear, bFar, err = unixPair(c); err == nil {
				if c.src, err = fed(aNear, aFar); err == nil {
					c.dst, err = drained(bNear, bFar)
				}
			}
		}
	case "file-null":
		if c.src, err = fileSrc(); err == nil {
			var f *os.File
			if f, err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
				c.closers = append(c.closers, func() { f.Close() })
				c.dst = &fileSink{os.DevNull, f, false}
			}
		}
	case "file-child":
		if c.src, err = fileSrc(); err == nil {
			if far.mode == "thread" {
				var stdin io.Writer
				var stdout io.Reader
				if stdin, stdout, err = cat(c); err == nil {
					c.dst, err = drained(stdin, stdout)
				}
			} else {
				var stdin io.WriteCloser
				var p *farProc
				if stdin, p, err = far.drainingChild(c); err == nil {
					c.dst = &drainedSink{stdin, p.expect, p.wait}
				}
			}
		}
	case "child-file":
		if far.mode == "thread" {
			var stdin io.Writer
			var stdout io.Reader
			if stdin, stdout, err = cat(c); err == nil {
				c.src, err = fed(stdout, stdin)
			}
		} else {
			var stdout io.ReadCloser
			var p *farProc
			if stdout, p, err = far.feedingChild(c); err == nil {
				c.src = &fedSource{r: stdout, n: n, feed: p.feed}
			}
		}
		if err == nil {
			c.dst, err = fileDst()
		}
	case "mem-buf":
		c.src, c.dst = &memSource{data: data[:n]}, &bufSink{}
	default:
		err = fmt.Errorf("unknown pair")
	}
	if err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// farEnds says where a cell's feeder and drainer run: "proc" (processes of the far-end
// program) or "thread" (goroutines).
type farEnds struct {
	mode    string
	program string
}

// farProc is a far-end process: the tour's far-end program, talking over a control socket.
type farProc struct {
	ctl     *os.File
	replies *bufio.Reader
}

// controlPair is a socketpair for a far end's control: our end, and the child's.
func controlPair() (*os.File, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "control"), os.NewFile(uintptr(fds[1]), "control"), nil
}

// command is the far-end program in role (feed or drain).
func (f farEnds) command(role string) *exec.Cmd {
	cmd := exec.Command(f.program)
	cmd.Env = append(os.Environ(), "IO_COPY_FAR_END="+role)
	cmd.Stderr = os.Stderr
	return cmd
}

// start runs a far-end process on data (an *os.File, *net.TCPConn or *net.UnixConn), which it
// then owns: this process closes its own descriptor of it.
func (f farEnds) start(c *cell, role string, data any) (*farProc, error) {
	var file *os.File
	var err error
	var closeOrig func() error
	switch d := data.(type) {
	case *os.File:
		file, closeOrig = d, func() error { return nil }
	case *net.TCPConn:
		file, err = d.File()
		closeOrig = d.Close
	case *net.UnixConn:
		file, err = d.File()
		closeOrig = d.Close
	default:
		err = fmt.Errorf("a far end cannot take a %T", data)
	}
	if err != nil {
		return nil, err
	}
	ours, theirs, err := controlPair()
	if err != nil {
		return nil, err
	}
	cmd := f.command(role)
	if role == "feed" {
		cmd.Stdout, cmd.Stdin = file, theirs
	} else {
		cmd.Stdin, cmd.Stdout = file, theirs
	}
	return f.run(c, cmd, ours, theirs, func() { file.Close(); closeOrig() })
}

// drainingChild runs the far-end program as the pair's child, draining its stdin: the sink is
// os/exec's StdinPipe, the value a user's io.Copy(stdin, src) gets.
func (f farEnds) drainingChild(c *cell) (io.WriteCloser, *farProc, error) {
	ours, theirs, err := controlPair()
	if err != nil {
		return nil, nil, err
	}
	cmd := f.command("drain")
	cmd.Stdout = theirs
	stdin, err := cmd.StdinPipe()
	if err != nil {
		ours.Close()
		theirs.Close()
		return nil, nil, err
	}
	p, err := f.run(c, cmd, ours, theirs, func() {})
	return stdin, p, err
}

// feedingChild runs the far-end program as the pair's child, feeding its stdout: the source is
// os/exec's StdoutPipe.
func (f farEnds) feedingChild(c *cell) (io.ReadCloser, *farProc, error) {
	ours, theirs, err := controlPair()
	if err != nil {
		return nil, nil, err
	}
	cmd := f.command("feed")
	cmd.Stdin = theirs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		ours.Close()
		theirs.Close()
		return nil, nil, err
	}
	p, err := f.run(c, cmd, ours, theirs, func() {})
	return stdout, p, err
}

func (f farEnds) run(c *cell, cmd *exec.Cmd, ours, theirs *os.File, handedOver func()) (*farProc, error) {
	err := cmd.Start()
	theirs.Close()
	handedOver()
	if err != nil {
		ours.Close()
		return nil, fmt.Errorf("cannot run the far end %s: %v", f.program, err)
	}
	c.closers = append(c.closers, func() {
		ours.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(200 * time.Millisecond):
			cmd.Process.Kill()
			<-done
		}
	})
	return &farProc{ours, bufio.NewReader(ours)}, nil
}

func (p *farProc) feed(total int64) { fmt.Fprintf(p.ctl, "feed %d\n", total) }

func (p *farProc) expect(total int64, verify bool) error {
	v := 0
	if verify {
		v = 1
	}
	_, err := fmt.Fprintf(p.ctl, "expect %d %d\n", total, v)
	return err
}

func (p *farProc) wait() (int64, uint64, error) {
	line, err := p.replies.ReadString('\n')
	if err != nil {
		return 0, 0, fmt.Errorf("the far end is gone: %v", err)
	}
	var got int64
	var sum uint64
	if _, err := fmt.Sscanf(line, "%d %d", &got, &sum); err != nil {
		return 0, 0, fmt.Errorf("the far end answered %q", line)
	}
	return got, sum, nil
}

// goroutineSink is a drainedSink whose drainer is a goroutine.
func goroutineSink(w io.Writer, d *drainer) *drainedSink {
	return &drainedSink{
		w: w,
		expect: func(total int64, verify bool) error {
			d.req <- drainReq{total, verify}
			return nil
		},
		wait: func() (int64, uint64, error) {
			a := <-d.ans
			return a.got, a.sum, a.err
		},
	}
}

// sourceFile opens <dir>/src-<n>, the tour's source file, writing it first if it is missing or
// of another length; a file written here is removed when the cell closes.
func sourceFile(dir string, data []byte, c *cell) (*os.File, error) {
	if dir == "-" {
		return nil, fmt.Errorf("a file source needs a directory")
	}
	path := filepath.Join(dir, fmt.Sprintf("src-%d", len(data)))
	if st, err := os.Stat(path); err != nil || st.Size() != int64(len(data)) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, err
		}
		c.closers = append(c.closers, func() { os.Remove(path) })
	}
	f, err := os.Open(path)
	if err == nil {
		c.closers = append(c.closers, func() { f.Close() })
	}
	return f, err
}

// tcpPair is a connected loopback TCP pair: (client, server), with TCP_NODELAY as in the tour
// (Go's default).
func tcpPair(c *cell) (*net.TCPConn, *net.TCPConn, error) {
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, nil, err
	}
	defer l.Close()
	client, err := net.DialTCP("tcp", nil, l.Addr().(*net.TCPAddr))
	if err != nil {
		return nil, nil, err
	}
	c.closers = append(c.closers, func() { client.Close() })
	server, err := l.AcceptTCP()
	if err != nil {
		return nil, nil, err
	}
	c.closers = append(c.closers, func() { server.Close() })
	if err := client.SetNoDelay(true); err != nil {
		return nil, nil, err
	}
	return client, server, server.SetNoDelay(true)
}

// unixPair is socketpair(AF_UNIX, SOCK_STREAM) as *net.UnixConn, like Rust's UnixStream::pair.
func unixPair(c *cell) (*net.UnixConn, *net.UnixConn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	var conns [2]*net.UnixConn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		conn, err := net.FileConn(f) // a dup, registered with the poller
		f.Close()
		if err != nil {
			return nil, nil, err
		}
		c.closers = append(c.closers, func() { conn.Close() })
		uc, ok := conn.(*net.UnixConn)
		if !ok {
			return nil, nil, fmt.Errorf("socketpair gave a %T", conn)
		}
		conns[i] = uc
	}
	return conns[0], conns[1], nil
}

func pipe(c *cell) (*os.File, *os.File, error) {
	r, w, err := os.Pipe()
	if err == nil {
		c.closers = append(c.closers, func() { r.Close(); w.Close() })
	}
	return r, w, err
}

// cat runs `cat` with os/exec's StdinPipe and StdoutPipe.
func cat(c *cell) (io.Writer, io.Reader, error) {
	cmd := exec.Command("cat")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("cannot run `cat`: %v", err)
	}
	c.closers = append(c.closers, func() { cmd.Process.Kill(); cmd.Wait() })
	return stdin, stdout, nil
}

// ---------------------------------------------------------------------------------------------
// Timing

// batch makes copies copies and returns the time spent in the io.Copy calls alone. With verify
// (and one copy), it checks the far end byte for byte and returns what it got, or nil where
// nothing can be read back.
func (c *cell) batch(copies int64, verify bool) (time.Duration, string, error) {
	c.src.begin(c.n * copies)
	c.dst.begin(c.n*copies, verify)
	var elapsed time.Duration
	for i := int64(0); i < copies; i++ {
		if err := c.src.reset(); err != nil {
			return 0, "", err
		}
		if err := c.dst.reset(); err != nil {
			return 0, "", err
		}
		r, w := c.src.reader(), c.dst.writer()
		t0 := time.Now()
		written, err := io.Copy(w, r)
		elapsed += time.Since(t0)
		if err != nil {
			return 0, "", err
		}
		if written != c.n {
			return 0, "", fmt.Errorf("io.Copy copied %d of %d bytes", written, c.n)
		}
	}
	got, sum, readable, err := c.dst.end(verify)
	if err != nil {
		return 0, "", err
	}
	if !readable {
		return elapsed, "", nil
	}
	if !verify {
		return elapsed, "", nil
	}
	if got != c.n {
		return 0, "", fmt.Errorf("the far end got %d of %d bytes", got, c.n)
	}
	if want := checksum(c.data[:c.n]); sum != want {
		return 0, "", fmt.Errorf("the far end's checksum is %#x, not the %#x sent", sum, want)
	}
	return elapsed, fmt.Sprintf("%#x", sum), nil
}

// check makes one copy and returns what the far end got: the bytes compared and the tour's
// checksum of them, or "count" and "-" where nothing can be read back.
func (c *cell) check() (checked, sum string, err error) {
	_, sum, err = c.batch(1, true)
	if err != nil {
		return "", "", err
	}
	if sum == "" {
		return "count", "-", nil
	}
	return strconv.FormatInt(c.n, 10), sum, nil
}

// measure times the cell alone, as the one-shot mode does: the checked copy, then every sample.
func (c *cell) measure() (string, error) {
	copies := imax(1, sampleBytes/c.n)
	rounds := 21
	if c.n >= 64*mib {
		rounds = 5
	} else if c.n >= mib {
		rounds = 11
	}
	checked, sum, err := c.check()
	if err != nil {
		return "", fmt.Errorf("checked copy: %v", err)
	}
	var secs []float64
	for i := 0; i < rounds; i++ {
		d, _, err := c.batch(copies, false)
		if err != nil {
			return "", err
		}
		secs = append(secs, d.Seconds()/float64(copies))
	}
	return fmt.Sprintf("secs_per_copy=%.6e copies=%d samples=%d checked=%s checksum=%s",
		median(secs), copies, rounds, checked, sum), nil
}

func median(xs []float64) float64 {
	v := append([]float64(nil), xs...)
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// pattern is the tour's pseudo-random bytes (xorshift64, little-endian words).
func pattern(n int64) []byte {
	x := uint64(0x9E3779B97F4A7C15)
	v := make([]byte, (n+7)/8*8)
	for i := 0; i < len(v); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(v[i:], x)
	}
	return v[:n]
}

// checksum is the tour's: order-sensitive, 8 bytes per multiply.
func checksum(b []byte) uint64 {
	h := uint64(0xcbf29ce484222325) ^ uint64(len(b))
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		h = bits.RotateLeft64((h^w)*0x100000001b3, 29)
	}
	for ; i < len(b); i++ {
		h = (h ^ uint64(b[i])) * 0x100000001b3
	}
	return h
}
