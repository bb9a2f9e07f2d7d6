import { describe, expect, it } from 'vitest'
import { IsolateCache, LIST_TTL_MS } from '../../src/storage/isolate-cache'

describe('IsolateCache', () => {
  it('keeps a value until its TTL, then forgets it', () => {
    const cache = new IsolateCache(10, 1000)
    cache.set('a', 'A', 10, 1000, 0)
    expect(cache.get('a', 999)).toEqual({ value: 'A' })
    expect(cache.get('a', 1000)).toBeUndefined()
    expect(cache.size()).toEqual({ entries: 0, bytes: 0 })
  })

  it('caches "not found" as a null value', () => {
    const cache = new IsolateCache(10, 1000)
    cache.set('gone', null, 10, 1000, 0)
    expect(cache.get('gone', 1)).toEqual({ value: null })
  })

  it('drops the least recently used entry past its entry bound', () => {
    const cache = new IsolateCache(2, 1000)
    cache.set('a', 1, 1, 1000, 0)
    cache.set('b', 2, 1, 1000, 0)
    cache.get('a', 1)
    cache.set('c', 3, 1, 1000, 2)
    expect(cache.get('b', 3)).toBeUndefined()
    expect(cache.get('a', 3)).toEqual({ value: 1 })
    expect(cache.get('c', 3)).toEqual({ value: 3 })
  })

  it('stays within its byte bound and refuses a value over a quarter of it', () => {
    const cache = new IsolateCache(100, 100)
    for (let i = 0; i < 20; i++) cache.set(`k${i}`, i, 20, 1000, 0)
    expect(cache.size().bytes).toBeLessThanOrEqual(100)
    cache.set('big', 'x', 26, 1000, 0)
    expect(cache.get('big', 1)).toBeUndefined()
  })

  it('forgets a key on delete (a write in this isolate)', () => {
    const cache = new IsolateCache(10, 1000)
    cache.set('a', 'A', 10, 1000, 0)
    cache.delete('a')
    expect(cache.get('a', 1)).toBeUndefined()
  })

  it('keeps derived values no longer than the 60 s freshness contract', () => {
    expect(LIST_TTL_MS).toBeLessThanOrEqual(60_000)
  })
})
