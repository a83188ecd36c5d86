module github.com/tenantflow/tenantflow

go 1.26.0

require (
	github.com/expr-lang/expr v1.17.8 // indirect
	github.com/robfig/cron/v3 v3.0.1 // indirect
	golang.org/x/crypto v0.58.0 // indirect
)
