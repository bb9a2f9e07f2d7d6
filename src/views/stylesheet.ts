// The one stylesheet, served from memory under a content-hashed URL so it can be cached forever.
import { contentHash } from '../storage/content-hash'

export const STYLESHEET = `:root{--ink:#1a1a1a;--muted:#555;--line:#d8d8d8;--accent:#0b5cad;--bg:#fff;--soft:#f5f5f2}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);font:1.0625rem/1.6 Georgia,"Times New Roman",serif;overflow-wrap:anywhere}
a{color:var(--accent)}
a:focus-visible,button:focus-visible{outline:3px solid var(--accent);outline-offset:2px;border-radius:2px}
.skip{position:absolute;left:-999px;top:0;background:var(--bg);color:var(--accent);padding:.5rem 1rem;z-index:2;font-family:system-ui,sans-serif}
.skip:focus{left:.5rem;top:.5rem}
header.site,footer.site,main{max-width:46rem;margin:0 auto;padding:0 1rem}
header.site{border-bottom:3px double var(--ink);padding-top:1rem;padding-bottom:.5rem}
header.site .brand{font:700 1.75rem/1.2 system-ui,sans-serif;text-decoration:none;color:var(--ink);letter-spacing:-.02em}
header.site p{margin:.25rem 0 .5rem;color:var(--muted);font:0.9rem/1.4 system-ui,sans-serif}
nav.themes ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.25rem .9rem;font:.9rem/1.6 system-ui,sans-serif}
main{padding-top:1.25rem;padding-bottom:2rem}
h1,h2,h3{font-family:system-ui,sans-serif;line-height:1.2;overflow-wrap:anywhere}
h1{font-size:clamp(1.6rem,4vw,2.3rem);margin:.25rem 0 .5rem}
main h2{font-size:1.3rem;margin:1.5rem 0 .5rem}
main h3{font-size:1.05rem;margin:1.25rem 0 .25rem}
.subtitle{font:600 1.15rem/1.4 system-ui,sans-serif;color:var(--muted);margin:.25rem 0 .75rem}
.dateline{font:.9rem/1.4 system-ui,sans-serif;color:var(--muted)}
.lede{font-size:1.15rem;font-weight:600}
.body{overflow-wrap:anywhere}
.body img{max-width:100%;height:auto}
.body pre{overflow-x:auto}
figure{margin:1rem 0}figure img{max-width:100%;height:auto}figcaption{font-size:.85rem;color:var(--muted)}
.themes-of a{font:.85rem system-ui,sans-serif;margin-right:.6rem}
section.related{border-top:1px solid var(--line);margin-top:2rem;padding-top:.5rem}
section.related h2{font-size:.95rem;letter-spacing:.08em;text-transform:uppercase}
ol.stories{list-style:none;margin:0;padding:0}
ol.stories li{padding:.6rem 0;border-bottom:1px solid var(--line)}
ol.stories time{display:block;font:.8rem system-ui,sans-serif;color:var(--muted)}
ol.stories h2{font-size:1.2rem;margin:.1rem 0}
ol.stories h2 a{text-decoration:none;color:var(--ink)}
ol.stories h2 a:hover{text-decoration:underline}
ol.stories p{margin:.25rem 0;overflow-wrap:anywhere}
nav.pager{display:flex;justify-content:space-between;margin:1.5rem 0;font-family:system-ui,sans-serif}
.archive{font:.85rem system-ui,sans-serif}
footer.site{border-top:1px solid var(--line);padding-top:1rem;padding-bottom:2rem;font:.85rem/1.6 system-ui,sans-serif;color:var(--muted)}
footer.site ul{list-style:none;padding:0;display:flex;gap:1rem;flex-wrap:wrap}
ul.feed-links{padding-left:1.2rem}
ul.feed-links li{margin:.35rem 0}
ul.feed-links code{display:block;font-size:.85rem;color:var(--muted)}
`

/** The stylesheet's URL: its hash changes with its bytes, so browsers may cache it for a year. */
export const STYLESHEET_PATH = `/assets/style.${contentHash(STYLESHEET).slice(0, 10)}.css`
