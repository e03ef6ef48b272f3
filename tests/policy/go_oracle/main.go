// Command go_oracle answers questions about Go's regexp and encoding/json, one JSON
// request per line on stdin, one JSON answer per line on stdout. buildsig's tests use it
// as the oracle for the Go semantics that BuildKit's source policy engine relies on; it
// calls only the Go standard library.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
)

type request struct {
	Op       string `json:"op"`
	Pattern  string `json:"pattern"`
	Text     string `json:"text"`
	Template string `json:"template"`
	Document string `json:"document"`
}

type answer struct {
	Err     string      `json:"err,omitempty"`
	Bool    bool        `json:"bool"`
	Out     string      `json:"out"`
	Indexes []int       `json:"indexes"`
	Value   interface{} `json:"value,omitempty"`
}

// Shapes with the json tags of BuildKit's source policy messages (policy.proto):
// decoding into them shows which keys Go's case-folding matches and how null and
// duplicates behave.

// enum stands for BuildKit's enums, which read a JSON number into a fresh int32 (so
// null gives 0) and refuse values outside 0..2. Only numbers are asked here.
type enum int32

func (e *enum) UnmarshalJSON(data []byte) error {
	var v int32
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	if v < 0 || v > 2 {
		return fmt.Errorf("invalid enum value: %d", v)
	}
	*e = enum(v)
	return nil
}

type constraint struct {
	Key       string `json:"key,omitempty"`
	Value     string `json:"value,omitempty"`
	Condition enum   `json:"condition,omitempty"`
}

type selector struct {
	Identifier  string        `json:"identifier,omitempty"`
	MatchType   enum          `json:"match_type,omitempty"`
	Constraints []*constraint `json:"constraints,omitempty"`
}

type update struct {
	Identifier string            `json:"identifier,omitempty"`
	Attrs      map[string]string `json:"attrs,omitempty"`
}

type rule struct {
	Action   enum      `json:"action,omitempty"`
	Selector *selector `json:"selector,omitempty"`
	Updates  *update   `json:"updates,omitempty"`
}

type policy struct {
	Version int64   `json:"version,omitempty"`
	Rules   []*rule `json:"rules,omitempty"`
}

func handle(req request) answer {
	switch req.Op {
	case "quote":
		return answer{Out: regexp.QuoteMeta(req.Text)}
	case "policy":
		var p policy
		if err := json.Unmarshal([]byte(req.Document), &p); err != nil {
			return answer{Err: err.Error()}
		}
		return answer{Value: p}
	}
	re, err := regexp.Compile(req.Pattern)
	if err != nil {
		return answer{Err: err.Error()}
	}
	switch req.Op {
	case "compile":
		return answer{}
	case "match":
		return answer{Bool: re.MatchString(req.Text)}
	case "submatch":
		return answer{Indexes: re.FindStringSubmatchIndex(req.Text)}
	case "replace":
		return answer{Out: re.ReplaceAllString(req.Text, req.Template)}
	case "expand":
		m := re.FindStringSubmatchIndex(req.Text)
		if m == nil {
			return answer{Err: "no match"}
		}
		return answer{Out: string(re.ExpandString(nil, req.Template, req.Text, m))}
	}
	return answer{Err: "unknown op " + req.Op}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			_ = enc.Encode(answer{Err: "bad request: " + err.Error()})
		} else {
			_ = enc.Encode(handle(req))
		}
		out.Flush()
	}
}
