module github.com/aforo/metering-go

go 1.19
