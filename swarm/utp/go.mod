module github.com/anacrolix/go-utp

go 1.26

toolchain go1.27.3
