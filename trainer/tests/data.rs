//! Data parsing in all three layouts, on tiny generated files, and the bad-input errors.

mod common;

use cifar_trainer::data::{Cifar10, Limits, RECORD_BYTES, parse_records};
use common::{records, write_archive, write_binary_dir};
use image::{Rgb, RgbImage};

#[test]
fn records_parse_into_labels_and_planar_images() {
    let bytes = records(3, 0);
    let data = parse_records(&bytes, "test.bin").unwrap();
    assert_eq!(data.labels, vec![0, 1, 2]);
    assert_eq!(data.image(1), &bytes[RECORD_BYTES + 1..2 * RECORD_BYTES]);
}

#[test]
fn truncated_files_and_bad_labels_are_named_errors() {
    let mut bytes = records(2, 0);
    bytes.pop();
    let error = parse_records(&bytes, "data_batch_1.bin")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("data_batch_1.bin") && error.contains("3073"),
        "{error}"
    );

    let mut bytes = records(2, 0);
    bytes[RECORD_BYTES] = 12;
    let error = parse_records(&bytes, "test_batch.bin")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("test_batch.bin") && error.contains("record 1") && error.contains("12"),
        "{error}"
    );

    assert!(
        parse_records(&[], "empty.bin")
            .unwrap_err()
            .to_string()
            .contains("empty.bin")
    );
}

#[test]
fn binary_folder_loads_in_file_order_with_limits() {
    let temp = tempfile::tempdir().unwrap();
    write_binary_dir(temp.path(), 4, 6);
    // The folder that holds cifar-10-batches-bin, or that folder itself.
    for path in [
        temp.path().to_path_buf(),
        temp.path().join("cifar-10-batches-bin"),
    ] {
        let data = Cifar10::load(&path, Limits::default()).unwrap();
        assert_eq!(data.train.len(), 20);
        assert_eq!(data.test.len(), 6);
        assert_eq!(data.train.labels[..6], [0, 1, 2, 3, 4, 5]);
    }
    let data = Cifar10::load(
        temp.path(),
        Limits {
            train: Some(5),
            test: Some(2),
        },
    )
    .unwrap();
    assert_eq!((data.train.len(), data.test.len()), (5, 2));
    assert_eq!(data.train.images.len(), 5 * 3072);
}

#[test]
fn archive_is_read_directly_and_matches_the_folder() {
    let temp = tempfile::tempdir().unwrap();
    let archive = write_archive(temp.path(), 4, 6);
    let from_archive = Cifar10::load(&archive, Limits::default()).unwrap();
    let from_folder = Cifar10::load(&temp.path().join("staging"), Limits::default()).unwrap();
    assert_eq!(from_archive.train, from_folder.train);
    assert_eq!(from_archive.test, from_folder.test);
}

#[test]
fn missing_and_truncated_batch_files_are_errors() {
    let temp = tempfile::tempdir().unwrap();
    let dir = write_binary_dir(temp.path(), 2, 2);
    std::fs::remove_file(dir.join("data_batch_3.bin")).unwrap();
    let error = format!(
        "{:#}",
        Cifar10::load(temp.path(), Limits::default()).unwrap_err()
    );
    assert!(error.contains("data_batch_3.bin"), "{error}");

    let dir = write_binary_dir(temp.path(), 2, 2);
    let mut test = std::fs::read(dir.join("test_batch.bin")).unwrap();
    test.truncate(100);
    std::fs::write(dir.join("test_batch.bin"), test).unwrap();
    let error = format!(
        "{:#}",
        Cifar10::load(temp.path(), Limits::default()).unwrap_err()
    );
    assert!(error.contains("test_batch.bin"), "{error}");

    let error = format!(
        "{:#}",
        Cifar10::load(&temp.path().join("nope"), Limits::default()).unwrap_err()
    );
    assert!(error.contains("does not exist"), "{error}");

    // A file that is not a gzip archive.
    let bogus = temp.path().join("bogus.tar.gz");
    std::fs::write(&bogus, b"not an archive").unwrap();
    let error = format!(
        "{:#}",
        Cifar10::load(&bogus, Limits::default()).unwrap_err()
    );
    assert!(error.contains("bogus.tar.gz"), "{error}");
}

#[test]
fn truncated_archive_is_an_error() {
    let temp = tempfile::tempdir().unwrap();
    let archive = write_archive(temp.path(), 4, 6);
    let bytes = std::fs::read(&archive).unwrap();
    std::fs::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
    let error = format!(
        "{:#}",
        Cifar10::load(&archive, Limits::default()).unwrap_err()
    );
    assert!(error.contains("cifar-10-binary.tar.gz"), "{error}");
}

#[test]
fn image_folders_load_any_size_and_interleave_classes() {
    let temp = tempfile::tempdir().unwrap();
    for (split, per_class) in [("train", 2), ("test", 1)] {
        for class in ["cat", "airplane", "truck"] {
            let dir = temp.path().join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..per_class {
                let shade = (i * 40 + class.len() * 10) as u8;
                RgbImage::from_pixel(48, 40, Rgb([shade, 0, 0]))
                    .save(dir.join(format!("{i}.png")))
                    .unwrap();
            }
        }
    }
    let data = Cifar10::load(temp.path(), Limits::default()).unwrap();
    assert_eq!(data.train.len(), 6);
    assert_eq!(data.test.len(), 3);
    // Sorted class folders (airplane, cat, truck), interleaved.
    assert_eq!(data.train.labels, vec![0, 3, 9, 0, 3, 9]);
    let limited = Cifar10::load(
        temp.path(),
        Limits {
            train: Some(3),
            test: None,
        },
    )
    .unwrap();
    assert_eq!(limited.train.labels, vec![0, 3, 9]);

    std::fs::create_dir_all(temp.path().join("train/zebra")).unwrap();
    let error = format!(
        "{:#}",
        Cifar10::load(temp.path(), Limits::default()).unwrap_err()
    );
    assert!(error.contains("zebra"), "{error}");
    std::fs::remove_dir(temp.path().join("train/zebra")).unwrap();

    std::fs::write(temp.path().join("train/cat/broken.png"), b"not a png").unwrap();
    let error = format!(
        "{:#}",
        Cifar10::load(temp.path(), Limits::default()).unwrap_err()
    );
    assert!(error.contains("broken.png"), "{error}");
}
