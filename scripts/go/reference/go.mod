module ferrolb.test/harness/reference

go 1.12

require (
	github.com/json-iterator/go v1.1.12 // indirect
	go.universe.tf/metallb v0.9.6 // indirect
)

replace gopkg.in/yaml.v2 => gopkg.in/yaml.v2 v2.2.2

tool (
	go.universe.tf/metallb/controller
	go.universe.tf/metallb/speaker
)
