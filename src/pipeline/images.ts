import sharp from 'sharp';

/**
 * A scan made easier to read: grey, and a 3×3 median filter, which removes the isolated dark and
 * light specks of scanners and fax lines without blurring strokes as a mean would.
 */
export async function forOcr(image: Buffer): Promise<Buffer> {
  return sharp(image).greyscale().median(3).png().toBuffer();
}

/** Width and height in pixels, from the header; undefined when it is not an image. */
export async function pixelSize(image: Buffer): Promise<{ width: number; height: number } | undefined> {
  try {
    // Only the header is read, so a huge image can be measured (and refused) without decoding it.
    const meta = await sharp(image, { limitInputPixels: false }).metadata();
    return meta.width && meta.height ? { width: meta.width, height: meta.height } : undefined;
  } catch {
    return undefined;
  }
}

/** The image as a JPEG (quality 85), unless it is one already. */
export async function asJpeg(image: Buffer): Promise<Buffer> {
  if (image[0] === 0xff && image[1] === 0xd8) return image;
  return sharp(image).jpeg({ quality: 85 }).toBuffer();
}
