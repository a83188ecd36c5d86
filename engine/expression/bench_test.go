package expression

import "testing"

func mustCompileB(b *testing.B, src string) *Expression {
	b.Helper()
	x, err := Compile(src)
	if err != nil {
		b.Fatal(err)
	}
	return x
}

// BenchmarkEvalCondition measures the most common case: a sequence-flow
// condition comparing one variable with a constant.
func BenchmarkEvalCondition(b *testing.B) {
	x := mustCompileB(b, "${amount > 1000}")
	var vars Variables = Map{"amount": 2500}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := x.EvalBool(vars); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkEvalConditionParallel(b *testing.B) {
	x := mustCompileB(b, "${amount > 1000}")
	var vars Variables = Map{"amount": 2500}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, err := x.EvalBool(vars); err != nil || !ok {
				b.Error(ok, err)
				return
			}
		}
	})
}

func BenchmarkEvalComplex(b *testing.B) {
	x := mustCompileB(b, "${order.total > limit and not empty order.lines and order.lines[0].qty mod 2 == 0}")
	var vars Variables = Map{
		"limit": 100,
		"order": map[string]any{"total": 250.0, "lines": []any{map[string]any{"qty": 4}}},
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := x.EvalBool(vars); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkEvalTemplate(b *testing.B) {
	x := mustCompileB(b, "Hello ${first} ${last}")
	var vars Variables = Map{"first": "Ada", "last": "Lovelace"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := x.EvalString(vars); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile("${amount > 1000 && status == 'open'}"); err != nil {
			b.Fatal(err)
		}
	}
}
