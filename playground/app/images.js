// Photo images. Every photo is served as renditions the service makes (THUMBNAIL, PREVIEW, FULL: upright,
// without metadata); `Photo.url` is FULL. A gallery card shows THUMBNAIL (PREVIEW on dense screens) over the
// photo's ThumbHash placeholder, the photo page PREVIEW. A new photo is PROCESSING for a moment: its card
// says so, and the page replaces the image when `photoUpdated` says it is READY (gallery.js, photo.js).
// Links also expire if the page stays open a long time: a broken image asks the API once for fresh ones.

import { graphql } from './api.js';
import { h } from './dom.js';
import { PHOTO_URL } from './operations.js';
import { thumbHashToDataURL } from './thumbhash.js';

/** The placeholder as a data URL, or null. */
function placeholderUrl(photo) {
  if (!photo.placeholder) return null;
  try {
    return thumbHashToDataURL(Uint8Array.from(atob(photo.placeholder), (c) => c.charCodeAt(0)));
  } catch {
    return null;
  }
}

/** `src` and `srcset` of `size` ('thumbnail' for cards, 'preview' for the photo page) of a READY photo. */
function sources(photo, size) {
  const thumbnail = photo.thumbnail;
  const preview = photo.preview;
  if (size === 'thumbnail' && thumbnail && preview) {
    return { src: thumbnail.url, srcset: `${thumbnail.url} ${thumbnail.width}w, ${preview.url} ${preview.width}w` };
  }
  if (size === 'preview' && preview) return { src: preview.url };
  return { src: photo.url };
}

/**
 * An `<img>` of a photo's `size` rendition ('thumbnail' or 'preview'), its placeholder painted behind it,
 * that renews its links once if they expired. While the photo is PROCESSING it shows the placeholder alone.
 * `frame`, if given, is the element whose background shows the placeholder and whose state class follows.
 */
export function photoImage(photo, { size = 'preview', frame = null, ...props } = {}) {
  let renewed = false;
  const image = h('img', { alt: photo.name, decoding: 'async', ...props });
  // Until READY there is nothing to load: FULL answers 404 until it exists.
  if (photo.status === 'READY') {
    const { src, srcset } = sources(photo, size);
    if (srcset) {
      image.srcset = srcset;
      image.sizes = '(max-width: 640px) 50vw, 240px';
    }
    image.src = src;
  } else if (photo.status === 'FAILED') {
    image.alt = `${photo.name} (could not be processed)`;
  }
  const paint = (current) => {
    const placeholder = placeholderUrl(current);
    if (frame && placeholder) frame.style.backgroundImage = `url("${placeholder}")`;
    frame?.classList.toggle('processing', current.status === 'PROCESSING');
    frame?.classList.toggle('failed', current.status === 'FAILED');
    const state = frame?.querySelector('.state');
    if (state) state.textContent = current.status === 'FAILED' ? 'Could not be processed' : 'Processing…';
  };
  paint(photo);
  image.addEventListener('error', async () => {
    try {
      const { photo: fresh } = await graphql(PHOTO_URL, { id: photo.id });
      if (!fresh) return;
      paint(fresh);
      if (fresh.status !== 'READY' || renewed) return;
      renewed = true;
      const next = sources(fresh, size);
      if (next.srcset) image.srcset = next.srcset;
      image.src = next.src === image.src ? `${next.src}#renewed` : next.src;
    } catch {
      // The broken-image state is the best we can show.
    }
  });
  return image;
}
