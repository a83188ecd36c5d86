// Package expression compiles and evaluates the expressions that BPMN models
// carry: sequence-flow conditions, assignees and candidates, due dates,
// multi-instance cardinality, collection and completion conditions, timer
// definitions and call-activity mappings.
//
// Models written for Camunda 7 use JUEL, the Unified Expression Language, in
// ${…} or #{…}. This package accepts the part of JUEL that reads variables
// and computes a value, translates it to github.com/expr-lang/expr source,
// and compiles that once; evaluation runs the compiled program. Anything
// outside the subset is rejected by [Compile] with a [*CompileError] that names
// the construct and its position, so a model that would misbehave at run time
// fails at deployment instead.
//
// # Forms
//
// [Compile] accepts three forms:
//
//   - a pure expression, "${amount > 1000}": the result keeps its type
//     (bool, a number, string, list, map, or whatever a variable holds).
//     Whitespace around it is ignored, so a condition on its own line in the
//     XML is still pure;
//   - a template, "user-${id}" or "Hello ${first} ${last}": the result is a
//     string;
//   - plain text without ${…}, "demo": the result is that text and
//     [Expression.IsLiteral] reports true.
//
// In text, \${ and \#{ stand for a literal ${ and #{.
//
// # Supported subset
//
//	JUEL                            meaning
//	------------------------------  -------------------------------------------------------------
//	${e}  #{e}                      evaluate e; both delimiters mean the same
//	name                            the variable name; a missing variable is a *MissingVariableError
//	execution.getVariable('name')   the variable name; a missing variable reads as null (as in Camunda)
//	a.b  a['b']  a["b"]             key b of map a (or the exported field of a struct whose json
//	                                tag is b, else B); a missing key is a *MissingVariableError
//	                                naming "a.b"; a being null is an error
//	a[i]                            element i (a whole number, from 0) of list a; out of range is an error
//	null  true  false               literals
//	42  1.5  1.  .5  1e3            numbers: integers are int, the others float64
//	'text'  "text"                  strings; the only escapes are \\  \'  \"
//	==  !=  eq  ne                  equality; numbers of any Go type compare by value (1 == 1.0),
//	                                values of different kinds are unequal ('5' == 5 is false)
//	<  >  <=  >=  lt  gt  le  ge    order of numbers, or of strings (byte-wise)
//	&&  ||  and  or                 logic with short circuit; operands must be booleans
//	!  not                          negation; the operand must be a boolean
//	+  -  *                         arithmetic on numbers; + also joins two strings
//	/  div                          division; the result is always float64 (7 / 2 is 3.5)
//	%  mod                          remainder: int for two integers, float64 otherwise;
//	                                an integer remainder by zero is an error
//	-e                              negation of a number
//	empty e                         true if e is null, "", or an empty list or map; false otherwise
//	not empty e                     the opposite
//	c ? a : b                       a if c, else b; c must be a boolean
//	( e )                           grouping
//
// Operators bind as in EL, loosest first: ?:, then || or, && and, == != eq ne,
// < > <= >= lt gt le ge, + -, * / % div mod, the unary - ! not empty, and
// . [] tightest. Word operators are whole words: a variable named order,
// andrew or notes is read as a variable, and text inside quotes is never an
// operator. The reserved words (and or not eq ne lt gt le ge div mod empty
// true false null instanceof) cannot name a variable, nor can execution.
//
// # Rejected
//
//	method calls         ${myBean.doIt()}, ${x.equals('a')}, ${execution.setVariable('a', 1)}
//	function calls       ${foo()}, ${fn:toUpperCase(x)}
//	other execution use  ${execution.processInstanceId}, ${execution}
//	lambdas              ${x -> x + 1}
//	assignment           ${a = 1}, ${a += 'x'}, statements joined with ;
//	collection literals  ${[1, 2]}, ${{1, 2}}, ${{'k': 1}}
//	instanceof, & and |  (write && and ||)
//	nested ${ or #{      ${a ${b}}
//	other escapes        ${'C:\temp'} (write 'C:\\temp')
//	huge integers        integer literals beyond the int64 range
//
// A bare name is always a variable: a bean such as ${myBean} is not resolved,
// and evaluating it reports the missing variable.
//
// # Where it differs from JUEL
//
// The subset reads the same as JUEL wherever both give a result, but is
// stricter where JUEL coerces or quietly yields null:
//
//   - no coercion between types: '5' == 5 is false and '1' + 2 is an error,
//     where JUEL converts the string to a number; && and || need booleans;
//   - a missing map key or struct field, a list index out of range and a
//     property of null are errors, where JUEL yields null. Use
//     execution.getVariable('name') == null to test for an optional variable;
//   - empty of a missing variable is a *MissingVariableError, as in JUEL.
//
// # Results and text
//
// A template converts each value to text: null as nothing (as in EL),
// strings as they are, booleans as true/false, numbers in plain decimal (2.0
// as 2, 0.5 as 0.5, 1e30 as 1e+30), times in RFC 3339, other values with a
// String method through it; lists and maps are an error.
// [Expression.EvalBool], [Expression.EvalString], [Expression.EvalInt],
// [Expression.EvalNumber] and [Expression.EvalList] check the result and
// return a [*ResultTypeError] such as
//
//	condition ${approved} returned string "yes", expected a boolean
//
// Evaluation errors are [*EvalError] values; errors.As finds the
// [*MissingVariableError] inside.
//
// # Concurrency and cost
//
// An [*Expression] is immutable: compile it once at deployment and evaluate it
// from any number of goroutines. Each evaluation borrows a virtual machine
// from a pool, because a VM must not be shared. Compiling costs tens of
// microseconds; evaluating a simple condition takes about 0.15 µs and one
// small allocation.
package expression
