// Package model compiles parsed BPMN (package bpmn) into executable process
// definitions: an indexed graph in which every element and flow is found by
// ID without a scan, expressions and literal timers are compiled once, and
// each scope knows which of its elements can still reach which (for
// inclusive joins).
//
// Compilation is also validation. A model is checked as a whole and every
// problem is reported at once with its element ID and line: dangling flows,
// gateways without outgoing flows, a missing start event, duplicate IDs,
// expressions that do not compile, timers that do not parse, and every
// element or attribute the engine would not execute (Java delegates,
// listeners, signal events, event sub-processes, …). Nothing is skipped
// silently: a model that deploys runs as drawn.
//
// A Definition is immutable once compiled and shared by every instance.
package model
