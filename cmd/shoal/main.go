package main

import (
	_ "github.com/anacrolix/torrent"
)

func main() {}
