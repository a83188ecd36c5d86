// Package bpmn parses BPMN 2.0 XML, as Camunda Modeler (for Camunda 7 and Camunda 8) and
// bpmn.io write it, into structs that mirror the schema. It only parses: it does not execute,
// build a graph, resolve references or check semantics. Deployment compiles a Definitions
// into an executable graph and reports what it cannot run.
//
// # What is read
//
// Definitions holds the top-level declarations (messages, errors, signals, escalations),
// collaborations with their pools and message flows, and processes. A Process and a
// SubProcess embed a Scope: their flow nodes and sequence flows in document order. Every flow
// node is a FlowNode whatever its kind, with a Kind and kind-specific parts that are nil for
// other kinds, so a deployment walks one type (Scope.AllFlowNodes recurses into
// sub-processes) and switches on Kind.
//
// Every element the engine may need to mention carries the line of its start tag, so a
// deployment can say "element Task_1 at line 42".
//
// Camunda 7 attributes (camunda:asyncBefore, camunda:topic, ...) sit beside the BPMN
// attributes they qualify; Camunda 8 extension elements (zeebe:taskDefinition, ...) are
// gathered in FlowNode.Zeebe. Values are kept as written: expressions are not parsed, and
// whether "${x}" or "=x" is meant depends on the platform the file was drawn for.
//
// # What is not dropped
//
// Nothing in the BPMN model namespace is silently dropped unless it is known to carry no
// execution semantics (documentation, artifacts such as text annotations and groups, data
// objects and data associations, lanes of sub-processes, diagram interchange). Elements the
// parser does not know, among a scope's flow elements or as children of known elements, are
// listed in Definitions.Unsupported with their tag, ID, parent and line. Elements it knows
// but the engine does not run (complex gateways, transactions, signal events, standard loops,
// Java listeners and delegates, ...) are parsed with their kind so a deployment can reject
// them by name.
//
// Elements and attributes in other namespaces, diagram interchange included, are skipped
// without a word, except the camunda and zeebe extensions listed in the types. Namespaces are
// matched by URI, never by prefix, so bpmn:, bpmn2: and a default namespace all work.
//
// # Hardening
//
// Documents come from tenants, so parsing is bounded and refuses markup it does not need:
//
//   - A DOCTYPE or any other markup declaration is rejected (ErrDoctype). No DTD is read,
//     no entity is defined or expanded; only the five predefined entities and character
//     references are, and any other entity reference is malformed XML.
//   - Input longer than Options.MaxBytes (10 MiB by default) is rejected once the limit is
//     crossed, without reading the rest (ErrTooLarge).
//   - Element nesting deeper than Options.MaxDepth (100) is rejected (ErrTooDeep); the
//     parser's recursion is bounded by it.
//   - More than Options.MaxElements elements (200 000) are rejected (ErrTooManyElements),
//     which bounds memory: a tiny element costs far more as a struct than as text.
//   - XML that is not well-formed, including content after the root element, is rejected
//     with its line (ErrMalformed). Only UTF-8 is accepted (with or without a byte order
//     mark); a document that declares another encoding is rejected.
//
// A rejected document yields a *ParseError listing Problems with element IDs and lines; its
// Unwrap gives the sentinel causes for errors.Is. A failing io.Reader is reported as that
// failure, not as a ParseError.
//
// # Limits
//
// The parser checks syntax and attribute types (booleans), not meaning: IDs may be missing or
// duplicated, references may dangle, a timer may have none or several of its expressions, a
// gateway may lack its default flow. Incoming and Outgoing repeat what sequence flows say and
// may disagree with them; the flows' SourceRef and TargetRef are authoritative. Checking all
// of that, and rejecting what the engine does not support, is the deployment's job.
package bpmn
