// Photo images. `Photo.url` is a short-lived presigned link to the photo's FULL rendition. A new photo is
// PROCESSING for a moment (its renditions are being made) and its link answers 404 until it is READY; a link
// also expires if the page stays open a long time. Either way, ask the API again: wait while PROCESSING,
// take the fresh link once READY.

import { graphql } from './api.js';
import { h } from './dom.js';
import { PHOTO_URL } from './operations.js';

const PROCESSING_RETRIES = 40;
const PROCESSING_WAIT_MS = 500;

/** An `<img>` of a photo that waits for its renditions, and renews its link once if it has expired. */
export function photoImage(photo, props = {}) {
  let renewed = false;
  let waits = 0;
  const image = h('img', { src: photo.url, alt: photo.name, decoding: 'async', ...props });
  image.addEventListener('error', async () => {
    try {
      const { photo: fresh } = await graphql(PHOTO_URL, { id: photo.id });
      if (fresh?.status === 'PROCESSING' && waits < PROCESSING_RETRIES) {
        waits += 1;
        await new Promise((resolve) => setTimeout(resolve, PROCESSING_WAIT_MS));
        image.src = `${fresh.url}#${waits}`;
        return;
      }
      if (fresh?.status === 'FAILED') {
        image.alt = `${photo.name} (could not be processed)`;
        return;
      }
      if (renewed || !fresh?.url) return;
      renewed = true;
      image.src = fresh.url === image.src ? `${fresh.url}#renewed` : fresh.url;
    } catch {
      // The broken-image state is the best we can show.
    }
  });
  return image;
}
