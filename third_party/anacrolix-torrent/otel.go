package torrent

const tracerName = "anacrolix.torrent"
