// Starts kinesalite on 127.0.0.1 only (its own CLI listens on every
// interface), with its streams kept in a LevelDB directory so that a restart
// keeps them. Prints "listening HOST:PORT" once it takes requests.
//
//   node launch.js MODULES_DIR DATA_DIR PORT [SHARD_LIMIT]
'use strict'

const path = require('path')

const [modulesDir, dataDir, port, shardLimit] = process.argv.slice(2)
if (!modulesDir || !dataDir || !port) {
  console.error('usage: node launch.js MODULES_DIR DATA_DIR PORT [SHARD_LIMIT]')
  process.exit(2)
}

const kinesalite = require(path.join(modulesDir, 'kinesalite'))
const server = kinesalite({
  path: dataDir,
  // Streams are ACTIVE soon after CreateStream, as the tests wait for them.
  createStreamMs: 50,
  deleteStreamMs: 50,
  updateStreamMs: 50,
  shardLimit: Number(shardLimit || 100),
})
server.listen(Number(port), '127.0.0.1', () => {
  const address = server.address()
  console.log(`listening ${address.address}:${address.port}`)
})
server.on('error', (error) => {
  console.error(`kinesalite: ${error.message}`)
  process.exit(1)
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
