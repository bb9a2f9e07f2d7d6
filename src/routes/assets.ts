// Static bytes served from memory: the stylesheet (content-hashed URL) and the favicon.
import { Hono } from 'hono'
import type { AppEnv } from '../app-env'
import { STYLESHEET, STYLESHEET_PATH } from '../views/stylesheet'
import { methodNotAllowed } from './method-not-allowed'

export const assets = new Hono<AppEnv>()

const FAVICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#0b5cad"/><text x="16" y="23" font-family="Georgia,serif" font-size="20" text-anchor="middle" fill="#fff">E</text></svg>'

assets.get(STYLESHEET_PATH, (c) => {
  c.header('Content-Type', 'text/css; charset=utf-8')
  c.header('Cache-Control', 'public, max-age=31536000, immutable')
  return c.body(STYLESHEET)
})

assets.get('/favicon.svg', (c) => {
  c.header('Content-Type', 'image/svg+xml')
  c.header('Cache-Control', 'public, max-age=86400')
  return c.body(FAVICON)
})

assets.all(STYLESHEET_PATH, methodNotAllowed('GET, HEAD'))
assets.all('/favicon.svg', methodNotAllowed('GET, HEAD'))
