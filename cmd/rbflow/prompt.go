package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/steps"
)

// termPrompter asks prompt steps on the terminal rbflow runs on. It is used
// only when stdin and stdout are terminals; otherwise answers come from
// --answer and --yes, or the run waits.
type termPrompter struct {
	in   io.Reader
	out  io.Writer
	view *view

	mu    sync.Mutex // one question at a time: prompt steps may run in parallel
	once  sync.Once
	lines chan string // closed when the input ends
}

var _ engine.Prompter = (*termPrompter)(nil)

// readLines feeds lines of input to Ask; reading blocks, and Ask must
// still return when the run is stopped.
func (p *termPrompter) readLines() {
	r := bufio.NewReader(p.in)
	for {
		s, err := r.ReadString('\n')
		if s != "" || err == nil {
			p.lines <- strings.TrimRight(s, "\r\n")
		}
		if err != nil {
			close(p.lines)
			return
		}
	}
}

// Ask shows the question (choices numbered) with the live view paused and
// reads a line, asking again until the reply is a valid answer. An empty
// reply takes the default. It returns an error when the input ends or ctx
// is done.
func (p *termPrompter) Ask(ctx context.Context, q engine.Question) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.once.Do(func() {
		p.lines = make(chan string)
		go p.readLines()
	})
	if p.view != nil {
		defer p.view.pause()()
	}
	fmt.Fprintf(p.out, "\n? %s  (step %s)\n", q.Text, q.Step)
	for i, c := range q.Choices {
		fmt.Fprintf(p.out, "  %d) %s\n", i+1, c)
	}
	for {
		fmt.Fprint(p.out, replyHint(q))
		var line string
		select {
		case <-ctx.Done():
			fmt.Fprintln(p.out)
			return "", context.Cause(ctx)
		case l, ok := <-p.lines:
			if !ok {
				fmt.Fprintln(p.out)
				return "", errors.New("the terminal's input ended")
			}
			line = l
		}
		answer, err := reply(q, line)
		if err == nil {
			return answer, nil
		}
		fmt.Fprintf(p.out, "  %v\n", err)
	}
}

// replyHint is the line the reply is typed on.
func replyHint(q engine.Question) string {
	def := ""
	if q.Default != "" {
		def = fmt.Sprintf(" (default %s)", q.Default)
	}
	switch q.Type {
	case steps.PromptConfirm:
		switch q.Default {
		case "yes":
			return "[Y/n] "
		case "no":
			return "[y/N] "
		}
		return "[y/n] "
	case steps.PromptChoice:
		return fmt.Sprintf("choose 1-%d%s: ", len(q.Choices), def)
	case steps.PromptMulti:
		return fmt.Sprintf("choose any of 1-%d, separated by commas%s: ", len(q.Choices), def)
	}
	return fmt.Sprintf("answer%s: ", def)
}

// reply turns a typed line into an answer: the default for an empty line,
// choice numbers into choices, then the checks every answer gets.
func reply(q engine.Question, line string) (string, error) {
	line = strings.TrimSpace(line)
	if line == "" {
		if q.Default != "" {
			return q.Default, nil
		}
		if q.Type != steps.PromptMulti {
			return "", errors.New("an answer is needed")
		}
	}
	byNumber := func(s string) string {
		s = strings.TrimSpace(s)
		if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= len(q.Choices) {
			return q.Choices[n-1]
		}
		return s
	}
	switch q.Type {
	case steps.PromptChoice:
		line = byNumber(line)
	case steps.PromptMulti:
		items := strings.Split(line, ",")
		for i, it := range items {
			items[i] = byNumber(it)
		}
		line = strings.Join(items, ",")
	}
	return steps.CheckAnswer(q, line)
}
