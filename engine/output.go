package engine

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
)

// ParseOutputs reads a $RBFLOW_OUTPUT file: key=value lines and
// key<<DELIM ... DELIM blocks (the GitHub Actions format).
func ParseOutputs(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read outputs: %w", err)
	}
	out := map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		if k, delim, ok := strings.Cut(text, "<<"); ok && !strings.Contains(k, "=") {
			key := strings.TrimSpace(k)
			var vals []string
			closed := false
			for sc.Scan() {
				line++
				v := strings.TrimSuffix(sc.Text(), "\r")
				if v == delim {
					closed = true
					break
				}
				vals = append(vals, v)
			}
			if !closed {
				return nil, fmt.Errorf("$RBFLOW_OUTPUT line %d: %s<<%s is never closed by a line %q", line, key, delim, delim)
			}
			if !validKey(key) {
				return nil, fmt.Errorf("$RBFLOW_OUTPUT line %d: bad output name %q", line, key)
			}
			out[key] = strings.Join(vals, "\n")
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		if !ok || !validKey(strings.TrimSpace(k)) {
			return nil, fmt.Errorf("$RBFLOW_OUTPUT line %d: want key=value or key<<EOF, got %q", line, text)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, sc.Err()
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// tailSize bounds what is kept in memory and in SQLite of a step's output.
const (
	tailLines = 40
	tailBytes = 8 << 10
	maxLine   = 4 << 10
)

// stepLog is a step's output sink: it masks secrets line by line, writes
// the log file, keeps a bounded tail and reports lines to the observer.
// Memory stays bounded however much the step prints.
type stepLog struct {
	mu      sync.Mutex
	file    *os.File
	mask    *Mask
	partial []byte
	tail    []string
	onLine  func(string)
}

func (l *stepLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := maxLine - len(l.partial)
			if len(p) <= room {
				l.partial = append(l.partial, p...)
				return n, nil
			}
			l.partial = append(l.partial, p[:room]...)
			p = p[room:]
			l.flushLine(false)
			continue
		}
		chunk := p[:i]
		if len(l.partial)+len(chunk) > maxLine {
			room := maxLine - len(l.partial)
			l.partial = append(l.partial, chunk[:room]...)
			p = p[room:]
			l.flushLine(false)
			continue
		}
		l.partial = append(l.partial, chunk...)
		p = p[i+1:]
		l.flushLine(true)
	}
	return n, nil
}

func (l *stepLog) flushLine(newline bool) {
	line := l.mask.String(string(l.partial))
	l.partial = l.partial[:0]
	if l.file != nil {
		if newline {
			_, _ = l.file.WriteString(line + "\n")
		} else {
			_, _ = l.file.WriteString(line)
		}
	}
	l.tail = append(l.tail, line)
	if len(l.tail) > tailLines {
		l.tail = l.tail[len(l.tail)-tailLines:]
	}
	if l.onLine != nil {
		l.onLine(line)
	}
}

// Close flushes a final partial line.
func (l *stepLog) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.flushLine(true)
	}
	if l.file != nil {
		_ = l.file.Close()
	}
}

// Tail returns the last lines, bounded in size.
func (l *stepLog) Tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.Join(l.tail, "\n")
	if len(s) > tailBytes {
		s = s[len(s)-tailBytes:]
	}
	return s
}

// Note writes an rbflow line (not the step's own output) into the log.
func (l *stepLog) Note(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		_, _ = fmt.Fprintf(l.file, "::rbflow:: "+format+"\n", args...)
	}
}
