package expression_test

import (
	"errors"
	"fmt"

	"github.com/tenantflow/tenantflow/engine/expression"
)

func Example() {
	// Compile once, when the process definition is deployed.
	cond, err := expression.Compile("${amount > 1000 && not empty approver}")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cond.Variables())

	// Evaluate many times, with each execution's variables.
	ok, err := cond.EvalBool(expression.Map{"amount": 2500, "approver": "ann"})
	fmt.Println(ok, err)

	_, err = cond.EvalBool(expression.Map{"approver": "ann"})
	var missing *expression.MissingVariableError
	fmt.Println(errors.As(err, &missing), missing.Name)
	// Output:
	// [amount approver]
	// true <nil>
	// true amount
}

func ExampleCompile_template() {
	name, err := expression.Compile("Invoice ${invoice.number} for ${customer}")
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := name.EvalString(expression.Map{
		"invoice":  map[string]any{"number": 42.0},
		"customer": "ACME",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s)
	// Output: Invoice 42 for ACME
}

func ExampleCompile_literal() {
	assignee, err := expression.Compile("demo")
	if err != nil {
		fmt.Println(err)
		return
	}
	s, _ := assignee.EvalString(nil)
	fmt.Println(assignee.IsLiteral(), s)
	// Output: true demo
}

func ExampleCompile_rejected() {
	_, err := expression.Compile("${myBean.doIt()}")
	fmt.Println(err)
	// Output: method call "myBean.doIt(…)" is not supported: expressions may read variables, not call methods (at column 3 of "${myBean.doIt()}")
}

func ExampleExpression_EvalBool_typeError() {
	cond, err := expression.Compile("${approved}")
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = cond.EvalBool(expression.Map{"approved": "yes"})
	fmt.Println(err)
	// Output: condition ${approved} returned string "yes", expected a boolean
}
