module ferrolb.test/memberlist-go

go 1.12

require (
	github.com/hashicorp/go-msgpack v0.5.3
	github.com/hashicorp/memberlist v0.1.7
)
