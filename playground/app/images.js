// Photo images. Every photo is served as renditions the service makes (THUMBNAIL, PREVIEW, FULL: upright,
// without metadata); `Photo.url` is FULL. A gallery card shows THUMBNAIL (PREVIEW on dense screens) over the
// photo's ThumbHash placeholder, the photo page PREVIEW. A new photo is PROCESSING for a moment: its card
// says so and waits for the renditions; links also expire if the page stays open a long time. Either way
// the image asks the API again: waits while PROCESSING, takes fresh links once READY.

import { graphql } from './api.js';
import { h } from './dom.js';
import { PHOTO_URL } from './operations.js';
import { thumbHashToDataURL } from './thumbhash.js';

const PROCESSING_RETRIES = 60;
const PROCESSING_WAIT_MS = 500;

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
 * that waits for the renditions while the photo is PROCESSING and renews its links once if they expired.
 * `frame`, if given, is the element whose background shows the placeholder and whose state class follows.
 */
export function photoImage(photo, { size = 'preview', frame = null, ...props } = {}) {
  let renewed = false;
  let waits = 0;
  const { src, srcset } = sources(photo, size);
  const image = h('img', { src, alt: photo.name, decoding: 'async', ...props });
  if (srcset) {
    image.srcset = srcset;
    image.sizes = '(max-width: 640px) 50vw, 240px';
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
      if (fresh.status === 'PROCESSING' && waits < PROCESSING_RETRIES) {
        waits += 1;
        await new Promise((resolve) => setTimeout(resolve, PROCESSING_WAIT_MS));
        image.src = `${fresh.url}#${waits}`;
        return;
      }
      if (fresh.status === 'FAILED') {
        image.alt = `${photo.name} (could not be processed)`;
        return;
      }
      if (fresh.status === 'READY' && waits > 0) {
        // It was processing: now its renditions exist.
        waits = 0;
        const next = sources(fresh, size);
        if (next.srcset) image.srcset = next.srcset;
        image.src = next.src;
        return;
      }
      if (renewed) return;
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
